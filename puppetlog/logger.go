package puppetlog

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

// Logger is an engine.Observer that writes Puppet's console log lines.
type Logger struct {
	mu    sync.Mutex
	w     io.Writer
	level engine.Level
	color bool
}

// New returns a logger writing lines at level and above to w, coloured like Puppet's
// console when color is set.
func New(w io.Writer, level engine.Level, color bool) *Logger {
	return &Logger{w: w, level: level, color: color}
}

// Puppet's console colours by level.
var colors = map[engine.Level]string{
	engine.Debug:   "\x1b[0;37m",
	engine.Info:    "\x1b[0;32m",
	engine.Notice:  "\x1b[0;36m",
	engine.Warning: "\x1b[0;33m",
	engine.Err:     "\x1b[1;31m",
}

// Printf writes one log line at level.
func (l *Logger) Printf(level engine.Level, format string, args ...any) {
	if level < l.level {
		return
	}
	line := level.String() + ": " + fmt.Sprintf(format, args...)
	if l.color {
		line = colors[level] + line + "\x1b[0m"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, line)
}

// Observe implements engine.Observer.
func (l *Logger) Observe(e engine.Event) {
	switch e.Kind {
	case engine.EventPassDone:
		l.Printf(engine.Notice, "Applied catalog in %.2f seconds", e.Duration.Seconds())
		return
	case engine.EventConverged:
		l.Printf(engine.Info, "Converged: nothing changed for the converged timeout")
		return
	}
	if e.Vertex == nil || e.Vertex.Relay {
		return
	}
	path, level := e.Vertex.Name, engine.Notice
	if m, ok := e.Vertex.Data.(*translate.Meta); ok {
		path, level = m.Path, m.Loglevel
	}
	switch e.Kind {
	case engine.EventChange:
		c := e.Change
		if e.Noop {
			l.Printf(level, "%s/%s: current_value %s, should be %s (noop)", path, c.Property,
				engine.QuoteValue(c.Previous), engine.QuoteValue(c.Desired))
		} else {
			l.Printf(level, "%s/%s: %s", path, c.Property, c.Message)
		}
	case engine.EventLog:
		switch {
		case e.Bare:
			l.Printf(e.Level, "%s", e.Message)
		case e.Property != "":
			l.Printf(e.Level, "%s/%s: %s", path, e.Property, e.Message)
		default:
			l.Printf(e.Level, "%s: %s", path, e.Message)
		}
	case engine.EventFailure:
		var ce *engine.ChangeError
		switch {
		case e.Refresh:
			l.Printf(engine.Err, "%s: Failed to call refresh: %v", path, e.Err)
			l.Printf(engine.Err, "%s: %v", path, e.Err)
		case errors.As(e.Err, &ce):
			l.Printf(engine.Err, "%s", ce.Err)
			l.Printf(engine.Err, "%s/%s: %v", path, ce.Property, ce)
		default:
			l.Printf(engine.Err, "%s: Could not evaluate: %v", path, e.Err)
		}
	case engine.EventSkip:
		for _, f := range e.Failed {
			l.Printf(engine.Notice, "%s: Dependency %s has failures: true", path, f)
		}
		l.Printf(engine.Warning, "%s: Skipping because of failed dependencies", path)
	case engine.EventRefresh:
		what := "Triggered"
		if e.Noop {
			what = "Would have triggered"
		}
		l.Printf(engine.Notice, "%s: %s 'refresh' from %d %s", path, what, e.Count, plural(e.Count, "event"))
	}
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}
