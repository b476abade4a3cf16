package puppetlog

import (
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

// Logger is an engine.Observer that writes Puppet's log lines to its
// destinations: the console (w), syslog, files.
type Logger struct {
	mu    sync.Mutex
	w     io.Writer // the console; nil for none
	sys   syslogger // syslog; nil for none
	level engine.Level
	color bool
	// files are log files, written under fmu; now tells their lines' time.
	fmu   sync.Mutex
	files []*fileDest
	now   func() time.Time
	// Lines for w wait in pending while a writer is at work (writing), and that
	// writer takes them all in its next write: many workers logging at once share
	// one write call instead of taking turns at a write each (as a database's
	// group commit). A call returns once its line is written (written counts the
	// lines written, queued those logged), as it did when each wrote its own, so
	// that nothing logged is lost when the process exits right after.
	pending, spare  []byte
	writing         bool
	queued, written uint64
	done            *sync.Cond // written moved
}

// syslogger is what the logger uses of a *syslog.Writer.
type syslogger interface {
	Debug(string) error
	Info(string) error
	Notice(string) error
	Warning(string) error
	Err(string) error
}

// NewSyslog returns a logger sending lines at level and above to syslog (daemon
// facility) as tag, as puppet agent logs when no console is asked for: with a
// resource's path in parentheses before the message.
func NewSyslog(tag string, level engine.Level) (*Logger, error) {
	w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_NOTICE, tag)
	if err != nil {
		return nil, err
	}
	return &Logger{sys: w, level: level}, nil
}

// New returns a logger writing lines at level and above to w, coloured like Puppet's
// console when color is set.
func New(w io.Writer, level engine.Level, color bool) *Logger {
	return &Logger{w: w, level: level, color: color}
}

// Open returns a logger writing lines at level and above to each of dests, as
// Puppet's --logdest (or the logdest setting, a comma-separated list) names
// them: "console" (console, coloured when color is set), "syslog" (as tag), or an
// absolute file path (see fileDest). A destination named twice is used once.
// made lists the directories made for files, which Puppet says it creates.
func Open(dests []string, console io.Writer, tag string, level engine.Level, color bool) (l *Logger, made []string, err error) {
	l = &Logger{level: level, color: color, now: time.Now}
	seen := map[string]bool{}
	for _, dest := range dests {
		if seen[dest] {
			continue
		}
		seen[dest] = true
		switch {
		case dest == "console":
			l.w = console
		case dest == "syslog":
			w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_NOTICE, tag)
			if err != nil {
				l.Close()
				return nil, nil, err
			}
			l.sys = w
		case filepath.IsAbs(dest):
			f, created, err := openFile(dest)
			if err != nil {
				l.Close()
				return nil, nil, err
			}
			if created {
				made = append(made, filepath.Dir(dest))
			}
			l.files = append(l.files, f)
		default:
			l.Close()
			return nil, nil, fmt.Errorf("Unknown destination type %s", dest)
		}
	}
	return l, made, nil
}

// Reopen closes the log files and opens them again, as Puppet's daemon does at
// SIGUSR2 (a rotated file is then written anew).
func (l *Logger) Reopen() error {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	var errs []error
	for _, f := range l.files {
		if err := f.reopen(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close closes the log files.
func (l *Logger) Close() error {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	var errs []error
	for _, f := range l.files {
		errs = append(errs, f.close())
	}
	return errors.Join(errs...)
}

// Puppet's console colours by level.
var colors = map[engine.Level]string{
	engine.Debug:   "\x1b[0;37m",
	engine.Info:    "\x1b[0;32m",
	engine.Notice:  "\x1b[0;36m",
	engine.Warning: "\x1b[0;33m",
	engine.Err:     "\x1b[1;31m",
}

// Line is one log line as Puppet prints it: "Level: Source: Message", or
// "Level: Message" when Source is empty (a bare line, whose source in a report is
// "Puppet"). Vertex is the resource the line is about, nil for run-level lines.
type Line struct {
	Level           engine.Level
	Source, Message string
	Vertex          *engine.Vertex
}

// String is the line as the console shows it, without colour.
func (l Line) String() string {
	if l.Source == "" {
		return l.Level.String() + ": " + l.Message
	}
	return l.Level.String() + ": " + l.Source + ": " + l.Message
}

// Printf writes one bare log line at level.
func (l *Logger) Printf(level engine.Level, format string, args ...any) {
	l.write(Line{Level: level, Message: fmt.Sprintf(format, args...)})
}

func (l *Logger) write(line Line) {
	if line.Level < l.level {
		return
	}
	if len(l.files) > 0 {
		l.fmu.Lock()
		t := l.now()
		for _, f := range l.files {
			f.write(line, t)
		}
		l.fmu.Unlock()
	}
	if l.sys != nil {
		l.mu.Lock()
		// As Puppet's syslog destination: a message of several lines (a diff)
		// is sent a line at a time, each with the source.
		for _, msg := range rubySplitLines(line.Message) {
			if line.Source != "" {
				msg = "(" + line.Source + ") " + msg
			}
			l.syslog(line.Level, msg)
		}
		l.mu.Unlock()
	}
	if l.w == nil {
		return
	}
	s := line.String()
	if l.color {
		s = colors[line.Level] + s + "\x1b[0m"
	}
	l.mu.Lock()
	l.pending = append(l.pending, s...)
	// Ruby's puts, as Puppet's console: no second newline after one that ends
	// the message (a diff's last line).
	if !strings.HasSuffix(s, "\n") {
		l.pending = append(l.pending, '\n')
	}
	l.queued++
	if l.writing { // the writer at work takes the line in its next write
		mine := l.queued
		if l.done == nil {
			l.done = sync.NewCond(&l.mu)
		}
		for l.written < mine {
			l.done.Wait()
		}
		l.mu.Unlock()
		return
	}
	l.writing = true
	for len(l.pending) > 0 {
		// Two buffers take turns: pending fills while buf is written. spare
		// is cleared as it becomes pending, so that the two never share an
		// array, whichever is kept afterwards.
		buf, upto := l.pending, l.queued
		l.pending, l.spare = l.spare[:0], nil
		l.mu.Unlock()
		_, _ = l.w.Write(buf) // as Ruby's puts to a closed console: lines are lost, the run goes on
		l.mu.Lock()
		if cap(buf) <= 1<<20 { // a large diff's buffer is not kept
			l.spare = buf
		}
		l.written = upto
		if l.done != nil {
			l.done.Broadcast()
		}
	}
	l.writing = false
	l.mu.Unlock()
}

func (l *Logger) syslog(level engine.Level, msg string) {
	switch level {
	case engine.Debug:
		_ = l.sys.Debug(msg)
	case engine.Info:
		_ = l.sys.Info(msg)
	case engine.Notice:
		_ = l.sys.Notice(msg)
	case engine.Warning:
		_ = l.sys.Warning(msg)
	default:
		_ = l.sys.Err(msg)
	}
}

// rubySplitLines is Ruby's String#split("\n"): empty lines are kept but for those
// at the end, and an empty string gives none.
func rubySplitLines(s string) []string {
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// Observe implements engine.Observer.
func (l *Logger) Observe(e engine.Event) {
	for _, line := range Lines(e) {
		l.write(line)
	}
}

// Lines are the log lines Puppet prints for e, none for most events.
func Lines(e engine.Event) []Line {
	switch e.Kind {
	case engine.EventPassDone:
		return []Line{{Level: engine.Notice, Message: fmt.Sprintf("Applied catalog in %.2f seconds", e.Duration.Seconds())}}
	case engine.EventConverged:
		return []Line{{Level: engine.Info, Message: "Converged: nothing changed for the converged timeout"}}
	}
	if e.Vertex == nil {
		return nil
	}
	switch e.Kind {
	case engine.EventChange, engine.EventLog, engine.EventFailure, engine.EventSkip, engine.EventRefresh:
	default:
		return nil // the other kinds have no line: no path to build
	}
	path, level := e.Vertex.Name, engine.Notice
	m, ok := e.Vertex.Data.(*translate.Meta)
	if ok {
		path, level = m.Path(), m.Loglevel
	}
	if e.Vertex.Relay {
		// Of a container's boundaries Puppet says only what they would have
		// triggered, and names the container by its reference.
		if !ok || e.Kind != engine.EventRefresh || !e.Noop {
			return nil
		}
		path = containerRef(m)
	}
	line := func(level engine.Level, source, format string, args ...any) Line {
		return Line{Level: level, Source: source, Message: fmt.Sprintf(format, args...), Vertex: e.Vertex}
	}
	switch e.Kind {
	case engine.EventChange:
		return []Line{line(level, path+"/"+e.Change.Property, "%s", ChangeMessage(e))}
	case engine.EventLog:
		switch {
		case e.Bare:
			return []Line{line(e.Level, "", "%s", e.Message)}
		case e.Property != "":
			return []Line{line(e.Level, path+"/"+e.Property, "%s", e.Message)}
		default:
			return []Line{line(e.Level, path, "%s", e.Message)}
		}
	case engine.EventFailure:
		var ce *engine.ChangeError
		switch {
		case engine.IsReported(e.Err):
			return nil
		case e.Refresh:
			return []Line{line(engine.Err, path, "Failed to call refresh: %v", e.Err), line(engine.Err, path, "%v", e.Err)}
		case errors.As(e.Err, &ce) && ce.Halted:
			return []Line{line(engine.Err, path+"/"+ce.Property, "%v%s", ce, correctiveSuffix(e))}
		case errors.As(e.Err, &ce) && ce.Set != "":
			// Puppet's property set logs its wrapping, the harness logs it again with
			// the system error, then the change's failure.
			file, lineNo := "", 0
			if m != nil {
				file, lineNo = m.File, m.Line
			}
			cause := ce.Cause(file, lineNo)
			return []Line{line(engine.Err, "", "%s", cause),
				line(engine.Err, "", "%s\nWrapped exception:\n%v", cause, ce.Err),
				line(engine.Err, path+"/"+ce.Property, "%s%s", ce.Message(file, lineNo), correctiveSuffix(e))}
		case errors.As(e.Err, &ce):
			return []Line{line(engine.Err, "", "%s", ce.Err), line(engine.Err, path+"/"+ce.Property, "%v%s", ce, correctiveSuffix(e))}
		default:
			return []Line{line(engine.Err, path, "Could not evaluate: %v", e.Err)}
		}
	case engine.EventSkip:
		var out []Line
		for _, f := range e.Failed {
			out = append(out, line(engine.Notice, path, "Dependency %s has failures: true", f))
		}
		return append(out, line(engine.Warning, path, "Skipping because of failed dependencies"))
	case engine.EventRefresh:
		what := "Triggered"
		if e.Noop {
			what = "Would have triggered"
		}
		return []Line{line(engine.Notice, path, "%s 'refresh' from %d %s", what, e.Count, plural(e.Count, "event"))}
	}
	return nil
}

// ChangeMessage is the message of a change event, as Puppet's harness words it:
// the change made, or with noop what it would have been; " (corrective)" after
// it when it repairs drift.
func ChangeMessage(e engine.Event) string {
	c := e.Change
	msg := c.Message
	if e.Noop && !strings.HasSuffix(c.Message, " (noop)") { // else said by Puppet itself
		msg = fmt.Sprintf("current_value %s, should be %s (noop)", engine.QuoteValue(c.Previous), engine.QuoteValue(c.Desired))
	}
	return msg + correctiveSuffix(e)
}

// correctiveSuffix is what Puppet's harness adds to the message of a property's
// event that is a corrective change.
func correctiveSuffix(e engine.Event) string {
	if e.Corrective {
		return " (corrective)"
	}
	return ""
}

// containerRef names a container as Puppet's whits do in logs: Class[Main],
// Refresh::Snippet[one], Stage[main].
func containerRef(m *translate.Meta) string {
	if m.Type == "Class" && len(m.Containment) > 0 {
		return "Class[" + m.Containment[len(m.Containment)-1] + "]"
	}
	return m.Ref()
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}
