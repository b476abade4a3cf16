package resources

import (
	"context"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/writers"
)

var (
	_ engine.Investigator = (*File)(nil)
	_ engine.Investigator = (*FileLine)(nil)
)

// Investigate names the programs that write the file while a fight goes on.
func (f *File) Investigate(ctx context.Context, d time.Duration) {
	investigateWriters(ctx, f.h, f.Path, d)
}

// Investigate names the programs that write the file while a fight goes on.
func (l *FileLine) Investigate(ctx context.Context, d time.Duration) {
	investigateWriters(ctx, l.h, l.Path, d)
}

// investigateWriters watches who writes path for up to d and says it: a warning
// naming the three most active writers, or why nobody can be named.
func investigateWriters(ctx context.Context, h engine.Handle, path string, d time.Duration) {
	ws, err := writers.Watch(ctx, path, d)
	switch {
	case err != nil:
		h.Logf(engine.Info, "Cannot tell which program changes it: %v", err)
	case len(ws) == 0:
		h.Logf(engine.Info, "No other program was seen writing it or its directory")
	default:
		names := make([]string, 0, 3)
		for _, w := range ws[:min(3, len(ws))] {
			names = append(names, w.String())
		}
		h.Logf(engine.Warning, "Changed by another program: %s", strings.Join(names, "; "))
	}
}
