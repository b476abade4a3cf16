package puppetlog

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

func TestLines(t *testing.T) {
	v := &engine.Vertex{Name: "Exec[x]", Data: &translate.Meta{Containment: []string{"Stage[main]", "Main", "Exec[x]"}, Loglevel: engine.Notice}}
	quiet := &engine.Vertex{Name: "File[/q]", Data: &translate.Meta{Containment: []string{"Stage[main]", "Main", "File[/q]"}, Loglevel: engine.Info}}
	boom := errors.New("'/bin/false' returned 1 instead of one of [0]")
	for _, tc := range []struct {
		name string
		ev   engine.Event
		want string
	}{
		{"change", engine.Event{Kind: engine.EventChange, Vertex: v, Change: engine.Change{Property: "returns", Message: "executed successfully"}},
			"Notice: /Stage[main]/Main/Exec[x]/returns: executed successfully\n"},
		{"noop change", engine.Event{Kind: engine.EventChange, Vertex: v, Noop: true, Change: engine.Change{Property: "returns", Previous: "notrun", Desired: "['0']"}},
			"Notice: /Stage[main]/Main/Exec[x]/returns: current_value 'notrun', should be ['0'] (noop)\n"},
		{"redacted noop", engine.Event{Kind: engine.EventChange, Vertex: v, Noop: true, Change: engine.Change{Property: "content", Previous: "[redacted]", Desired: "[redacted]"}},
			"Notice: /Stage[main]/Main/Exec[x]/content: current_value [redacted], should be [redacted] (noop)\n"},
		{"noop change said by Puppet", engine.Event{Kind: engine.EventChange, Vertex: v, Noop: true, Change: engine.Change{Property: "host_aliases", Previous: "a", Desired: "a b",
			Message: "current_value 'a', should be 'a b' (noop)"}},
			"Notice: /Stage[main]/Main/Exec[x]/host_aliases: current_value 'a', should be 'a b' (noop)\n"},
		{"corrective change (a repair of drift)", engine.Event{Kind: engine.EventChange, Vertex: v, Corrective: true, Change: engine.Change{Property: "returns", Message: "executed successfully"}},
			"Notice: /Stage[main]/Main/Exec[x]/returns: executed successfully (corrective)\n"},
		{"corrective noop change", engine.Event{Kind: engine.EventChange, Vertex: v, Noop: true, Corrective: true, Change: engine.Change{Property: "returns", Previous: "notrun", Desired: "['0']"}},
			"Notice: /Stage[main]/Main/Exec[x]/returns: current_value 'notrun', should be ['0'] (noop) (corrective)\n"},
		{"corrective change failure", engine.Event{Kind: engine.EventFailure, Vertex: v, Corrective: true, Err: &engine.ChangeError{Property: "returns", From: "notrun", To: "['0']", Err: boom}},
			"Error: '/bin/false' returned 1 instead of one of [0]\nError: /Stage[main]/Main/Exec[x]/returns: change from 'notrun' to ['0'] failed: '/bin/false' returned 1 instead of one of [0] (corrective)\n"},
		{"failure already logged", engine.Event{Kind: engine.EventFailure, Vertex: v, Err: engine.Reported(&engine.ChangeError{Property: "returns", From: "notrun", To: "['0']", Err: boom})}, ""},
		{"loglevel below the log's", engine.Event{Kind: engine.EventChange, Vertex: quiet, Change: engine.Change{Property: "ensure", Message: "created"}}, ""},
		{"change failure", engine.Event{Kind: engine.EventFailure, Vertex: v, Err: &engine.ChangeError{Property: "returns", From: "notrun", To: "['0']", Err: boom}},
			"Error: '/bin/false' returned 1 instead of one of [0]\nError: /Stage[main]/Main/Exec[x]/returns: change from 'notrun' to ['0'] failed: '/bin/false' returned 1 instead of one of [0]\n"},
		{"change cut short at runtimeout", engine.Event{Kind: engine.EventFailure, Vertex: v, Err: &engine.ChangeError{Property: "returns", From: "notrun", To: "['0']", Err: errors.New("execution expired"), Halted: true}},
			"Error: /Stage[main]/Main/Exec[x]/returns: change from 'notrun' to ['0'] failed: execution expired\n"},
		{"evaluation failure", engine.Event{Kind: engine.EventFailure, Vertex: v, Err: errors.New("gone")},
			"Error: /Stage[main]/Main/Exec[x]: Could not evaluate: gone\n"},
		{"refresh failure", engine.Event{Kind: engine.EventFailure, Vertex: v, Refresh: true, Err: boom},
			"Error: /Stage[main]/Main/Exec[x]: Failed to call refresh: '/bin/false' returned 1 instead of one of [0]\nError: /Stage[main]/Main/Exec[x]: '/bin/false' returned 1 instead of one of [0]\n"},
		{"skip direct", engine.Event{Kind: engine.EventSkip, Vertex: v, Failed: []string{"Exec[y]"}},
			"Notice: /Stage[main]/Main/Exec[x]: Dependency Exec[y] has failures: true\nWarning: /Stage[main]/Main/Exec[x]: Skipping because of failed dependencies\n"},
		{"skip transitive", engine.Event{Kind: engine.EventSkip, Vertex: v, Roots: []string{"Exec[y]"}},
			"Warning: /Stage[main]/Main/Exec[x]: Skipping because of failed dependencies\n"},
		{"refresh", engine.Event{Kind: engine.EventRefresh, Vertex: v, Count: 2},
			"Notice: /Stage[main]/Main/Exec[x]: Triggered 'refresh' from 2 events\n"},
		{"noop refresh", engine.Event{Kind: engine.EventRefresh, Vertex: v, Count: 1, Noop: true},
			"Notice: /Stage[main]/Main/Exec[x]: Would have triggered 'refresh' from 1 event\n"},
		{"property log", engine.Event{Kind: engine.EventLog, Vertex: v, Level: engine.Notice, Property: "returns", Message: "hi"},
			"Notice: /Stage[main]/Main/Exec[x]/returns: hi\n"},
		{"diff (ends in a newline: no second one, as Ruby's puts)", engine.Event{Kind: engine.EventLog, Vertex: v, Level: engine.Notice, Property: "content", Message: "\n--- a\n+++ b\n"},
			"Notice: /Stage[main]/Main/Exec[x]/content: \n--- a\n+++ b\n"},
		{"bare log", engine.Event{Kind: engine.EventLog, Vertex: v, Level: engine.Notice, Bare: true, Message: "hello world"},
			"Notice: hello world\n"},
		{"debug hidden", engine.Event{Kind: engine.EventLog, Vertex: v, Level: engine.Debug, Message: "x"}, ""},
		{"relay silent", engine.Event{Kind: engine.EventSkip, Vertex: &engine.Vertex{Name: "Whit[x]", Relay: true}}, ""},
		{"pass done", engine.Event{Kind: engine.EventPassDone, Duration: 1234 * time.Millisecond},
			"Notice: Applied catalog in 1.23 seconds\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			New(&b, engine.Notice, false).Observe(tc.ev)
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestColor(t *testing.T) {
	var b bytes.Buffer
	New(&b, engine.Notice, true).Printf(engine.Warning, "careful")
	if got := b.String(); !strings.HasPrefix(got, "\x1b[0;33mWarning: careful") || !strings.HasSuffix(got, "\x1b[0m\n") {
		t.Errorf("coloured line %q", got)
	}
}

// A system error met setting a property is wrapped as Puppet's property set wraps
// it, with the resource's manifest position, logged twice, the second time with
// the error after "Wrapped exception:".
func TestSetErrorLines(t *testing.T) {
	v := &engine.Vertex{Name: "File[/x/f]", Data: &translate.Meta{Type: "File", Title: "/x/f",
		Containment: []string{"Stage[main]", "Main", "File[/x/f]"}, File: "/m.pp", Line: 3, Loglevel: engine.Notice}}
	err := &engine.ChangeError{Property: "ensure", From: "absent", To: "link", Set: "link",
		Err: errors.New("No such file or directory @ dir_chdir - /x")}
	var got []string
	for _, l := range Lines(engine.Event{Kind: engine.EventFailure, Vertex: v, Err: err}) {
		got = append(got, l.String())
	}
	cause := "Could not set 'link' on ensure: No such file or directory @ dir_chdir - /x (file: /m.pp, line: 3)"
	want := []string{
		"Error: " + cause,
		"Error: " + cause + "\nWrapped exception:\nNo such file or directory @ dir_chdir - /x",
		"Error: /Stage[main]/Main/File[/x/f]/ensure: change from 'absent' to 'link' failed: " + cause,
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines\n%q\nwant\n%q", got, want)
	}
}

// fakeSyslog records what would go to syslog.
type fakeSyslog struct{ sent []string }

func (f *fakeSyslog) Debug(m string) error   { f.sent = append(f.sent, "debug "+m); return nil }
func (f *fakeSyslog) Info(m string) error    { f.sent = append(f.sent, "info "+m); return nil }
func (f *fakeSyslog) Notice(m string) error  { f.sent = append(f.sent, "notice "+m); return nil }
func (f *fakeSyslog) Warning(m string) error { f.sent = append(f.sent, "warning "+m); return nil }
func (f *fakeSyslog) Err(m string) error     { f.sent = append(f.sent, "err "+m); return nil }

// TestSyslogLines: as Puppet's syslog destination, a message of several lines
// goes a line at a time (Ruby's split: an empty first line kept, trailing ones
// dropped), each with the resource's path in parentheses.
func TestSyslogLines(t *testing.T) {
	sys := &fakeSyslog{}
	l := &Logger{sys: sys, level: engine.Info}
	v := &engine.Vertex{Name: "File[/f]", Data: &translate.Meta{Containment: []string{"Stage[main]", "Main", "File[/f]"}, Loglevel: engine.Notice}}
	l.Observe(engine.Event{Kind: engine.EventLog, Vertex: v, Level: engine.Notice, Property: "content", Message: "\n--- /f\n+++ /t\n-a\n+b\n"})
	l.Printf(engine.Info, "Applying configuration version '1'")
	l.Printf(engine.Debug, "hidden")
	want := []string{
		"notice (/Stage[main]/Main/File[/f]/content) ",
		"notice (/Stage[main]/Main/File[/f]/content) --- /f",
		"notice (/Stage[main]/Main/File[/f]/content) +++ /t",
		"notice (/Stage[main]/Main/File[/f]/content) -a",
		"notice (/Stage[main]/Main/File[/f]/content) +b",
		"info Applying configuration version '1'",
	}
	if strings.Join(sys.sent, "\n") != strings.Join(want, "\n") {
		t.Errorf("sent\n%s\nwant\n%s", strings.Join(sys.sent, "\n"), strings.Join(want, "\n"))
	}
}

// slowWriter records each Write call and takes a while over it, as a console
// or a pipe that the reader drains slowly.
type slowWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(200 * time.Microsecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

// TestConcurrentLines logs from many goroutines at once: every line is written
// whole, once, in the order each goroutine logged its lines, each by the time its
// call returns, in fewer writes than lines.
func TestConcurrentLines(t *testing.T) {
	const workers, each = 8, 200
	w := &slowWriter{}
	l := New(w, engine.Info, false)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				line := fmt.Sprintf("worker %d line %d", g, i)
				if i%50 == 49 { // a message ending in a newline gets none added
					l.Printf(engine.Notice, "%s\n", line)
				} else {
					l.Printf(engine.Notice, "%s", line)
				}
				w.mu.Lock()
				written := strings.Contains(w.buf.String(), line+"\n")
				w.mu.Unlock()
				if !written {
					t.Errorf("%q not written when its call returned", line)
					return
				}
			}
		}()
	}
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := strings.Split(strings.TrimSuffix(w.buf.String(), "\n"), "\n")
	if len(lines) != workers*each {
		t.Fatalf("%d lines written, want %d", len(lines), workers*each)
	}
	next := make([]int, workers)
	for _, line := range lines {
		var g, i int
		if _, err := fmt.Sscanf(line, "Notice: worker %d line %d", &g, &i); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if i != next[g] {
			t.Fatalf("worker %d: line %d written where %d was next", g, i, next[g])
		}
		next[g]++
	}
	if w.writes >= workers*each {
		t.Errorf("%d writes for %d lines: none were written together", w.writes, workers*each)
	}
}

// TestLargeLines: a line over the size of buffer kept between writes, written
// while others log, leaves no buffer shared by the lines being written and those
// coming in (they were garbled once): every line comes out whole.
func TestLargeLines(t *testing.T) {
	w := &slowWriter{}
	l := New(w, engine.Info, false)
	big := strings.Repeat("x", 600<<10)
	huge := strings.Repeat("y", 2<<20)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.Printf(engine.Notice, "%s", big) }()
	go func() { defer wg.Done(); l.Printf(engine.Notice, "%s", huge) }()
	wg.Wait()
	const workers, each = 8, 200
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				l.Printf(engine.Notice, "worker %d line %d", g, i)
			}
		}()
	}
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(w.buf.String(), "\n"), "\n") {
		switch {
		case line == "Notice: "+big, line == "Notice: "+huge:
			counts[line[:9]]++
		case strings.HasPrefix(line, "Notice: worker "):
			counts[line]++
		default:
			t.Fatalf("garbled line (%d bytes): %.80q", len(line), line)
		}
	}
	if len(counts) != workers*each+2 {
		t.Errorf("%d distinct lines, want %d", len(counts), workers*each+2)
	}
	for line, n := range counts {
		if n != 1 {
			t.Errorf("%.40q written %d times", line, n)
		}
	}
}
