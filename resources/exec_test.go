package resources

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// execTestHandle records what a resource tells the engine.
type execTestHandle struct {
	mu      sync.Mutex
	pokes   int
	changes []engine.Change
	logs    []string // "Level: message"
}

func (h *execTestHandle) Poke() { h.mu.Lock(); h.pokes++; h.mu.Unlock() }

func (h *execTestHandle) Change(c engine.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.changes = append(h.changes, c)
}

func (h *execTestHandle) Logf(level engine.Level, format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, level.String()+": "+fmt.Sprintf(format, args...))
}

func (h *execTestHandle) PropertyLogf(level engine.Level, property, format string, args ...any) {
	h.Logf(level, format, args...)
}

func (h *execTestHandle) Printf(level engine.Level, format string, args ...any) {
	h.Logf(level, format, args...)
}

// at returns the messages logged at level.
func (h *execTestHandle) at(level engine.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, l := range h.logs {
		if m, ok := strings.CutPrefix(l, level.String()+": "); ok {
			out = append(out, m)
		}
	}
	return out
}

// newTestExec returns an initialised Exec of command with Puppet's defaults.
func newTestExec(t *testing.T, command string, set func(e *Exec)) (*Exec, *execTestHandle) {
	t.Helper()
	e := NewExec(command)
	if set != nil {
		set(e)
	}
	h := &execTestHandle{}
	if err := e.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if err := e.Init(h); err != nil {
		t.Fatal(err)
	}
	return e, h
}

func TestExecNeedsShell(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want bool
	}{
		{"/bin/echo hi", false},
		{"echo hi", false},
		{"  /bin/true\t-x  ", false},
		{"apt-get update", false},
		{"/bin/echo a > /tmp/x", true},
		{"test -f /x && echo", true},
		{"echo $HOME", true},
		{"echo 'quoted'", true},
		{`"/bin/echo" hi`, true},
		{"ls *", true},
		{"a\nb", true},
		{"echo # comment", true},
		{"FOO=bar /bin/env", true},
		{"/usr/bin/env FOO=bar", false}, // = after the first word
		{"/bin/a=b", false},             // / before = in the first word
		{"exit 3", true},
		{"if", true},
		{". /etc/profile", true},
		{"/bin/exit", false},
		{"exitcode 1", false},
	} {
		if got := needsShell(tc.cmd); got != tc.want {
			t.Errorf("needsShell(%q) = %v, want %v", tc.cmd, got, tc.want)
		}
	}
}

func TestExecArgvAndExtractExe(t *testing.T) {
	for _, tc := range []struct {
		provider, cmd string
		argv          []string
		exe           string
	}{
		{"posix", "/bin/echo  a\tb", []string{"/bin/echo", "a", "b"}, "/bin/echo"},
		{"posix", "echo hi", []string{"echo", "hi"}, "echo"},
		{"posix", "/bin/echo a|cat", []string{"sh", "-c", "/bin/echo a|cat"}, "/bin/echo"},
		{"posix", `"/opt/my app/run" -x`, []string{"sh", "-c", `"/opt/my app/run" -x`}, "/opt/my app/run"},
		{"posix", `'/opt/x' -x`, []string{"sh", "-c", `'/opt/x' -x`}, "/opt/x"},
		{"shell", "echo hi", []string{"/bin/sh", "-c", "echo hi"}, "echo"},
	} {
		e := &Exec{Provider: tc.provider}
		if _, got := e.argv(tc.cmd); !slices.Equal(got, tc.argv) {
			t.Errorf("%s argv(%q) = %q, want %q", tc.provider, tc.cmd, got, tc.argv)
		}
		if got := extractExe(tc.cmd); got != tc.exe {
			t.Errorf("extractExe(%q) = %q, want %q", tc.cmd, got, tc.exe)
		}
	}
}

func TestExecFormatReturns(t *testing.T) {
	for _, tc := range []struct {
		codes []int
		want  string
	}{
		{[]int{0}, "['0']"},
		{[]int{0, 2}, "['0', '2']"},
	} {
		if got := formatReturns(tc.codes); got != tc.want {
			t.Errorf("formatReturns(%v) = %q, want %q", tc.codes, got, tc.want)
		}
	}
}

func TestExecValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(e *Exec)
		want string // "" for valid
	}{
		{"qualified", nil, ""},
		{"unqualified", func(e *Exec) { e.Command = "foo bar" },
			"parameter command: 'foo' is not qualified and no path was specified. Please qualify the command or specify a path."},
		{"unqualified with path", func(e *Exec) { e.Command = "foo"; e.Path = []string{"/bin"} }, ""},
		{"unqualified shell", func(e *Exec) { e.Command = "foo"; e.Provider = "shell" }, ""},
		{"unqualified onlyif", func(e *Exec) { e.Onlyif = []string{"test -f /x"} },
			"parameter onlyif: 'test' is not qualified and no path was specified. Please qualify the command or specify a path."},
		{"unqualified refresh", func(e *Exec) { e.RefreshCommand = "service x restart" },
			"parameter refresh: 'service' is not qualified and no path was specified. Please qualify the command or specify a path."},
		{"umask", func(e *Exec) { e.Umask = "abc" }, `parameter umask: The umask specification is invalid: "abc"`},
		{"umask ok", func(e *Exec) { e.Umask = "0027" }, ""},
		{"environment", func(e *Exec) { e.Environment = []string{"FOO"} }, "parameter environment: Invalid environment setting 'FOO'"},
		{"provider", func(e *Exec) { e.Provider = "windows" }, `parameter provider: invalid value "windows", want posix or shell`},
		{"cwd", func(e *Exec) { e.Cwd = "tmp" }, "parameter cwd: cwd must be a fully qualified path"},
		{"creates", func(e *Exec) { e.Creates = []string{"x"} }, "parameter creates: creates must be a fully qualified path"},
		{"two problems", func(e *Exec) { e.Command = "foo"; e.Logoutput = "yes" },
			"parameter logoutput: invalid value \"yes\", want true, false or on_failure\n" +
				"parameter command: 'foo' is not qualified and no path was specified. Please qualify the command or specify a path."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewExec("/bin/true")
			if tc.set != nil {
				tc.set(e)
			}
			err := e.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate = %v, want %s", err, tc.want)
			}
			if !engine.IsPermanent(err) {
				t.Errorf("Validate error is not permanent")
			}
			var pe *ExecParamError
			if !errors.As(err, &pe) {
				t.Errorf("Validate error holds no *ExecParamError")
			}
		})
	}
}

func TestExecChecks(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists")
	if err := os.WriteFile(exists, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		set    func(e *Exec)
		runs   bool
		reason string // the failed check
	}{
		{"no checks", nil, true, ""},
		{"refreshonly", func(e *Exec) { e.Refreshonly = true }, false, "refreshonly"},
		{"creates exists", func(e *Exec) { e.Creates = []string{filepath.Join(dir, "nope"), exists} }, false, "creates"},
		{"creates missing", func(e *Exec) { e.Creates = []string{filepath.Join(dir, "nope")} }, true, ""},
		{"onlyif true", func(e *Exec) { e.Onlyif = []string{"/bin/true", "/bin/echo x"} }, true, ""},
		{"onlyif one false", func(e *Exec) { e.Onlyif = []string{"/bin/true", "/bin/false"} }, false, "onlyif"},
		{"unless true", func(e *Exec) { e.Unless = []string{"/bin/false", "/bin/true"} }, false, "unless"},
		{"unless false", func(e *Exec) { e.Unless = []string{"/bin/false"} }, true, ""},
		{"unless with path", func(e *Exec) { e.Path = []string{"/usr/bin", "/bin"}; e.Unless = []string{"test -e " + exists} }, false, "unless"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "ran")
			e, h := newTestExec(t, "/usr/bin/touch "+marker, tc.set)
			ok, err := e.CheckApply(context.Background(), true)
			if err != nil {
				t.Fatalf("CheckApply: %v", err)
			}
			_, statErr := os.Stat(marker)
			if ran := statErr == nil; ran != tc.runs || ok == tc.runs {
				t.Fatalf("CheckApply ok=%v ran=%v, want ran=%v", ok, ran, tc.runs)
			}
			if !tc.runs {
				if len(h.changes) != 0 {
					t.Errorf("changes %v, want none", h.changes)
				}
				want := fmt.Sprintf("'/usr/bin/touch %s' won't be executed because of failed check '%s'", marker, tc.reason)
				if !slices.Contains(h.at(engine.Debug), want) {
					t.Errorf("debug logs %q lack %q", h.at(engine.Debug), want)
				}
				return
			}
			want := []engine.Change{{Property: "returns", Previous: "notrun", Desired: "['0']", Message: "executed successfully"}}
			if !slices.Equal(h.changes, want) {
				t.Errorf("changes %v, want %v", h.changes, want)
			}
		})
	}
}

func TestExecNoop(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	e, h := newTestExec(t, "/usr/bin/touch "+marker, func(e *Exec) { e.Onlyif = []string{"/bin/true"} })
	ok, err := e.CheckApply(context.Background(), false)
	if ok || err != nil {
		t.Fatalf("CheckApply(noop) = %v, %v; want false, nil", ok, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("noop ran the command")
	}
	want := []engine.Change{{Property: "returns", Previous: "notrun", Desired: "['0']", Message: "executed successfully"}}
	if !slices.Equal(h.changes, want) {
		t.Errorf("changes %v, want %v", h.changes, want)
	}
}

func TestExecFailures(t *testing.T) {
	defer goleak.VerifyNone(t)
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		command string
		set     func(e *Exec)
		to      string
		err     string
	}{
		{"false", "/bin/false", nil, "['0']", "'/bin/false' returned 1 instead of one of [0]"},
		{"returns list", `/bin/sh -c "exit 3"`, func(e *Exec) { e.Returns = []int{0, 2} },
			"['0', '2']", `'/bin/sh -c "exit 3"' returned 3 instead of one of [0,2]`},
		{"sensitive", "/bin/false", func(e *Exec) { e.Sensitive = true }, "['0']", "[command redacted] returned 1 instead of one of [0]"},
		{"not found in path", "foo", func(e *Exec) { e.Path = []string{"/bin"} }, "['0']", "Could not find command 'foo'"},
		{"not found", "/nonexistent/foo", nil, "['0']", "Could not find command '/nonexistent/foo'"},
		{"directory", "/tmp", nil, "['0']", "'/tmp' is a directory, not a file"},
		{"not executable", plain, nil, "['0']", "'" + plain + "' is not executable"},
		{"shell not found", "no-such-command-xyz", func(e *Exec) { e.Provider = "shell" }, "['0']",
			"/bin/sh: 1: no-such-command-xyz: not found\n"},
		{"signal", `/bin/sh -c "kill -9 $$"`, nil, "['0']", `'/bin/sh -c "kill -9 $$"' returned  instead of one of [0]`},
		{"cwd missing", "/bin/true", func(e *Exec) { e.Cwd = "/nonexistent" }, "['0']", "Working directory /nonexistent does not exist!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, h := newTestExec(t, tc.command, tc.set)
			ok, err := e.CheckApply(context.Background(), true)
			if ok {
				t.Fatal("CheckApply ok")
			}
			var ce *engine.ChangeError
			if !errors.As(err, &ce) {
				t.Fatalf("CheckApply error %v (%T) is not a ChangeError", err, err)
			}
			if ce.Property != "returns" || ce.From != "notrun" || ce.To != tc.to || ce.Err.Error() != tc.err {
				t.Errorf("ChangeError{%q, %q, %q, %q}, want {returns, notrun, %q, %q}", ce.Property, ce.From, ce.To, ce.Err, tc.to, tc.err)
			}
			if len(h.changes) != 0 {
				t.Errorf("changes %v, want none", h.changes)
			}
		})
	}
}

func TestExecLogoutput(t *testing.T) {
	const cmd = `/bin/sh -c "echo out; echo; echo err >&2; exit $X"`
	for _, tc := range []struct {
		name      string
		logoutput string
		exit      string
		sensitive bool
		want      []string // Notice lines
	}{
		{"on_failure success", "on_failure", "0", false, nil},
		{"on_failure failure", "on_failure", "1", false, []string{"out", "", "err"}},
		{"true success", "true", "0", false, []string{"out", "", "err"}},
		{"false failure", "false", "1", false, nil},
		{"sensitive", "true", "0", true, []string{"[output redacted]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, h := newTestExec(t, cmd, func(e *Exec) {
				e.Logoutput = tc.logoutput
				e.Sensitive = tc.sensitive
				e.Environment = []string{"X=" + tc.exit}
			})
			e.CheckApply(context.Background(), true)
			if got := h.at(engine.Notice); !slices.Equal(got, tc.want) {
				t.Errorf("notice lines %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("loglevel", func(t *testing.T) {
		e, h := newTestExec(t, "/bin/echo hi", func(e *Exec) { e.Logoutput = "true"; e.Loglevel = engine.Info })
		e.CheckApply(context.Background(), true)
		if got := h.at(engine.Info); !slices.Equal(got, []string{"hi"}) {
			t.Errorf("info lines %q, want [hi]", got)
		}
	})
}

func TestExecTries(t *testing.T) {
	// The command succeeds from its third run on.
	for _, tc := range []struct {
		tries int
		ok    bool
	}{{2, false}, {3, true}} {
		t.Run(fmt.Sprint(tc.tries), func(t *testing.T) {
			count := filepath.Join(t.TempDir(), "count")
			cmd := fmt.Sprintf(`/bin/sh -c "echo x >> %s; test \$(wc -l < %s) -ge 3"`, count, count)
			e, _ := newTestExec(t, cmd, func(e *Exec) { e.Tries = tc.tries; e.TrySleep = 10 * time.Millisecond })
			_, err := e.CheckApply(context.Background(), true)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckApply: %v, want ok=%v", err, tc.ok)
			}
			b, _ := os.ReadFile(count)
			if n := strings.Count(string(b), "\n"); n != tc.tries {
				t.Errorf("ran %d times, want %d", n, tc.tries)
			}
		})
	}
}

func TestExecTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	// The backgrounded sleep keeps the output pipe open: the whole session is killed.
	e, _ := newTestExec(t, `/bin/sh -c "sleep 5 & sleep 5"`, func(e *Exec) { e.Timeout = time.Second; e.Tries = 3 })
	start := time.Now()
	_, err := e.CheckApply(context.Background(), true)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v, want about 1s", d)
	}
	var ce *engine.ChangeError
	if !errors.As(err, &ce) || ce.Err.Error() != "Command exceeded timeout" {
		t.Fatalf("CheckApply: %v, want Command exceeded timeout", err)
	}

	// A check that times out is a failed check.
	e, h := newTestExec(t, "/bin/true", func(e *Exec) { e.Timeout = 200 * time.Millisecond; e.Onlyif = []string{"/bin/sleep 5"} })
	if ok, err := e.CheckApply(context.Background(), true); !ok || err != nil {
		t.Fatalf("CheckApply = %v, %v; want true, nil", ok, err)
	}
	if got := h.at(engine.Err); !slices.Equal(got, []string{`Check "/bin/sleep 5" exceeded timeout`}) {
		t.Errorf("errors %q", got)
	}
}

func TestExecCancel(t *testing.T) {
	defer goleak.VerifyNone(t)
	e, _ := newTestExec(t, "/bin/sleep 5", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.CheckApply(ctx, true)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("CheckApply after %v: %v", time.Since(start), err)
	}
}

func TestExecEnvironmentAndCwd(t *testing.T) {
	t.Setenv("HOME", "/root")
	dir := t.TempDir()
	e, h := newTestExec(t, "env", func(e *Exec) {
		e.Path = []string{"/usr/bin", "/bin"}
		e.Environment = []string{"FOO=bar", "MULTI=a\nb", "FOO=baz"}
		e.Logoutput = "true"
		e.Cwd = dir
	})
	e.Environment = append(e.Environment, "X") // past Validate: skipped with a warning
	if _, err := e.CheckApply(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	got := h.at(engine.Notice)
	for _, want := range []string{"FOO=baz", "MULTI=a", "b", "PATH=/usr/bin:/bin"} {
		if !slices.Contains(got, want) {
			t.Errorf("env lacks %q: %q", want, got)
		}
	}
	for _, l := range got {
		if strings.HasPrefix(l, "HOME=") || strings.HasPrefix(l, "FOO=bar") {
			t.Errorf("env has %q", l)
		}
	}
	warnings := h.at(engine.Warning)
	for _, want := range []string{"Overriding environment setting 'FOO' with 'baz'", `Cannot understand environment setting "X"`} {
		if !slices.Contains(warnings, want) {
			t.Errorf("warnings %q lack %q", warnings, want)
		}
	}

	e, h = newTestExec(t, "/bin/pwd", func(e *Exec) { e.Cwd = dir; e.Logoutput = "true" })
	if _, err := e.CheckApply(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if got := h.at(engine.Notice); !slices.Equal(got, []string{dir}) {
		t.Errorf("pwd printed %q, want %s", got, dir)
	}
}

func TestExecUmask(t *testing.T) {
	for _, tc := range []struct {
		umask string
		mode  os.FileMode
	}{{"027", 0o640}, {"0077", 0o600}, {"2", 0o664}} {
		t.Run(tc.umask, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "f")
			e, _ := newTestExec(t, "/usr/bin/touch "+f, func(e *Exec) { e.Umask = tc.umask })
			if _, err := e.CheckApply(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.mode {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tc.mode)
			}
		})
	}
}

func TestExecUserGroup(t *testing.T) {
	testenv.NeedRoot(t, "runs commands as another user")
	e, h := newTestExec(t, "/usr/bin/id", func(e *Exec) { e.User = "nobody"; e.Group = "nogroup"; e.Logoutput = "true" })
	if _, err := e.CheckApply(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if got := h.at(engine.Notice); len(got) != 1 || !strings.HasPrefix(got[0], "uid=65534(nobody) gid=65534(nogroup)") {
		t.Errorf("id printed %q", got)
	}
	e, _ = newTestExec(t, "/usr/bin/id", func(e *Exec) { e.User = "no-such-user-xyz" })
	var ce *engine.ChangeError
	if _, err := e.CheckApply(context.Background(), true); !errors.As(err, &ce) || ce.Err.Error() != "No such user no-such-user-xyz" {
		t.Errorf("CheckApply: %v", err)
	}
}

func TestExecRefresh(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     func(e *Exec)
		apply   bool
		ran     string // which marker file the run made: "main", "refresh" or ""
		wantErr string
	}{
		{"refreshonly runs main", func(e *Exec) { e.Refreshonly = true }, true, "main", ""},
		{"noop", func(e *Exec) { e.Refreshonly = true }, false, "", ""},
		{"refresh command", func(e *Exec) { e.Refreshonly = true; e.RefreshCommand = "/usr/bin/touch $D/refresh" }, true, "refresh", ""},
		{"refresh command exit ignored", func(e *Exec) {
			e.RefreshCommand = `/bin/sh -c "touch $D/refresh; exit 4"`
		}, true, "refresh", ""},
		{"checks block", func(e *Exec) { e.Refreshonly = true; e.Unless = []string{"/bin/true"} }, true, "", ""},
		{"main fails", func(e *Exec) { e.Command = `/bin/sh -c "exit 5"` }, true, "", `'/bin/sh -c "exit 5"' returned 5 instead of one of [0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			e, h := newTestExec(t, `/bin/sh -c "touch $D/main"`, tc.set)
			e.Environment = []string{"D=" + dir}
			err := e.Refresh(context.Background(), tc.apply)
			if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Fatalf("Refresh: %v, want %q", err, tc.wantErr)
			}
			var ce *engine.ChangeError
			if errors.As(err, &ce) {
				t.Errorf("Refresh returned a ChangeError")
			}
			for _, name := range []string{"main", "refresh"} {
				_, err := os.Stat(filepath.Join(dir, name))
				if (err == nil) != (name == tc.ran) {
					t.Errorf("%s ran: %v", name, err == nil)
				}
			}
			if len(h.changes) != 0 {
				t.Errorf("refresh told changes %v", h.changes)
			}
		})
	}
}

func TestExecWatchClose(t *testing.T) {
	e, h := newTestExec(t, "/bin/true", nil)
	if err := e.Watch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil || h.pokes != 0 {
		t.Fatalf("Close: %v, pokes %d", err, h.pokes)
	}
}
