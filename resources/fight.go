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
	_ engine.Investigator = (*Host)(nil)
	_ engine.Investigator = (*SSHAuthorizedKey)(nil)
	_ engine.Investigator = (*Mount)(nil)
	_ engine.Investigator = (*Mailalias)(nil)
)

// Investigate names the programs that write the file while a fight goes on.
func (f *File) Investigate(ctx context.Context, d time.Duration) {
	investigateWriters(ctx, f.h, f.Path, d)
}

// Investigate names the programs that write the file while a fight goes on.
func (l *FileLine) Investigate(ctx context.Context, d time.Duration) {
	investigateWriters(ctx, l.h, l.Path, d)
}

// Investigate names the programs that write the hosts file while a fight goes on.
func (h *Host) Investigate(ctx context.Context, d time.Duration) {
	investigateWriters(ctx, h.h, h.Target, d)
}

// Investigate names the programs that write the keys file while a fight goes on.
func (k *SSHAuthorizedKey) Investigate(ctx context.Context, d time.Duration) {
	investigateWriters(ctx, k.h, k.target(), d)
}

// Investigate names the programs that write the fstab while a fight goes on.
func (m *Mount) Investigate(ctx context.Context, d time.Duration) {
	investigateWriters(ctx, m.h, m.Target, d)
}

// Investigate names the programs that write the aliases file while a fight goes on.
func (a *Mailalias) Investigate(ctx context.Context, d time.Duration) {
	investigateWriters(ctx, a.h, a.Target, d)
}

// investigateWriters watches who writes path for up to d and says it: a warning
// naming the three most active writers, or why nobody can be named.
func investigateWriters(ctx context.Context, h engine.Handle, path string, d time.Duration) {
	if path == "" {
		return
	}
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
