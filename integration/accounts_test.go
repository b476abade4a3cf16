package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// etcCopy is a throwaway copy of the host's /etc; run executes a command in a
// private mount namespace where that copy is mounted over /etc, so the real
// shadow tools, run by Puppet or by mgmt-puppet, change the copy and never the
// host's accounts.
type etcCopy struct{ dir string }

func newEtcCopy(t *testing.T) *etcCopy {
	t.Helper()
	testenv.NeedRoot(t, "mounts a copy of /etc in a private mount namespace")
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare: %v (Debian package util-linux)", err)
	}
	dir := filepath.Join(t.TempDir(), "etc")
	if out, err := exec.Command("cp", "-a", "/etc", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp -a /etc: %v\n%s", err, out)
	}
	return &etcCopy{dir: dir}
}

func (e *etcCopy) run(t *testing.T, name string, args ...string) result {
	t.Helper()
	script := `mount --make-rprivate / && mount --bind "$0" /etc && exec "$@"`
	return runCommand(t, "unshare", append([]string{"--mount", "sh", "-c", script, e.dir, name}, args...)...)
}

// accountLines are the lines of the copy's account files that name the test's
// users and groups, root put back to the placeholder, with shadow's date of last change left out (it is today for
// both tools, but may cross midnight).
func (e *etcCopy) accountLines(t *testing.T, root string) []string {
	t.Helper()
	mine := regexp.MustCompile(`^mp[a-z]+:|[:,]mp[a-z]+(,|$)`)
	var out []string
	for _, f := range []string{"passwd", "group", "shadow", "gshadow"} {
		data, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if !mine.MatchString(l) {
				continue
			}
			if f == "shadow" {
				fields := strings.Split(l, ":")
				if len(fields) > 2 {
					fields[2] = "<today>"
				}
				l = strings.Join(fields, ":")
			}
			out = append(out, f+": "+strings.ReplaceAll(l, root, placeholder))
		}
	}
	// Independent groups and users are created in parallel: the order of the
	// entries is not compared.
	slices.Sort(out)
	return out
}

// TestAccountsMatchPuppetApply applies the accounts fixture with real puppet apply
// and with mgmt-puppet, each over its own copy of /etc: a first apply, a second
// (nothing to do) and a third after the same drift in both; each time it compares
// the account entries, the managed tree, the log lines and the exit codes.
func TestAccountsMatchPuppetApply(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	ours, theirs := newEtcCopy(t), newEtcCopy(t)
	ourRoot, theirRoot := t.TempDir(), t.TempDir()
	ourCatalog, theirCatalog := fixtureCatalog(t, "accounts", ourRoot), fixtureCatalog(t, "accounts", theirRoot)
	state := t.TempDir()
	for _, d := range []string{"modules"} {
		if err := os.MkdirAll(filepath.Join(state, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Pass 3 finds drift made with the tools themselves: another shell, comment, uid
	// and supplementary groups, and the absent user present.
	drift := func(e *etcCopy) {
		for _, cmd := range [][]string{
			{"usermod", "-s", "/bin/bash", "-c", "someone", "-u", "3199", "-G", "mpextra", "mpdeploy"},
			{"useradd", "-M", "mpgone"},
		} {
			if r := e.run(t, cmd[0], cmd[1:]...); r.code != 0 {
				t.Fatalf("%v: exit %d\n%s", cmd, r.code, r.out)
			}
		}
	}
	for pass := 1; pass <= 3; pass++ {
		if pass == 3 {
			drift(ours)
			drift(theirs)
		}
		got := ours.run(t, bin, "run", "--color", "false", ourCatalog)
		want := theirs.run(t, "puppet", "apply", "--catalog", theirCatalog, "--color", "false",
			"--confdir", filepath.Join(state, "conf"), "--vardir", filepath.Join(state, "var"),
			"--codedir", filepath.Join(state, "code"), "--basemodulepath", filepath.Join(state, "modules"))
		if got.code != want.code {
			t.Errorf("pass %d: exit %d, puppet exit %d\nours:\n%s\npuppet:\n%s", pass, got.code, want.code, got.out, want.out)
		}
		gl, wl := logLines(got.out, ourRoot), logLines(want.out, theirRoot)
		if strings.Join(gl, "\n") != strings.Join(wl, "\n") {
			t.Errorf("pass %d: log lines differ\nours:\n  %s\npuppet:\n  %s", pass, strings.Join(gl, "\n  "), strings.Join(wl, "\n  "))
		}
		if g, w := ours.accountLines(t, ourRoot), theirs.accountLines(t, theirRoot); strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("pass %d: accounts differ\nours:\n  %s\npuppet:\n  %s", pass, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
		}
		if d := diffTrees(tree(t, theirRoot), tree(t, ourRoot)); len(d) > 0 {
			t.Errorf("pass %d: trees differ:\n  %s", pass, strings.Join(d, "\n  "))
		}
	}
	// The host's own accounts were not touched.
	if data, _ := os.ReadFile("/etc/passwd"); strings.Contains(string(data), "mpdeploy") {
		t.Fatal("the host's /etc/passwd holds mpdeploy")
	}
}

// TestUserDriftRepairedByEvent keeps the accounts fixture converged with
// mgmt-puppet over a copy of /etc and, 20 times, changes the user's shell with
// usermod: every change must be undone through the watch on /etc/passwd (no
// polling), and the repair latency is logged (p50, p99).
func TestUserDriftRepairedByEvent(t *testing.T) {
	bin := binary(t)
	e := newEtcCopy(t)
	root := t.TempDir()
	script := `mount --make-rprivate / && mount --bind "$0" /etc && exec "$@"`
	cmd := exec.Command("unshare", "--mount", "sh", "-c", script, e.dir,
		// --fight-after 0: the same user is drifted 20 times in a row to measure each
		// repair, which the default would take for a fight and slow down.
		bin, "run", "--color", "false", "--converged-timeout", "-1", "--fight-after", "0", fixtureCatalog(t, "accounts", root))
	out := startProcess(t, cmd, 5*time.Second)
	shell := func() string {
		for _, l := range e.accountLines(t, root) {
			if strings.HasPrefix(l, "passwd: mpdeploy:") {
				return l[strings.LastIndex(l, ":")+1:]
			}
		}
		return ""
	}
	waitFor := func(what string, ok func() bool) time.Duration {
		start := time.Now()
		for !ok() {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("no %s within 10 s\n%s", what, out.String())
			}
			time.Sleep(time.Millisecond)
		}
		return time.Since(start)
	}
	waitFor("first pass", func() bool { return strings.Contains(out.String(), "Applied catalog") })
	var lat []time.Duration
	for i := 0; i < 20; i++ {
		if r := e.run(t, "usermod", "-s", "/bin/bash", "mpdeploy"); r.code != 0 {
			t.Fatalf("usermod: %s", r.out)
		}
		// The latency counts from the end of usermod, when the drift is in place.
		lat = append(lat, waitFor("repair", func() bool { return shell() == "/bin/sh" }))
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(lat)
	t.Logf("user shell drift repaired by event: p50 %v, p99 %v, max %v (20 trials)",
		lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	// The last line may come a moment after the file shows the repair.
	logged := func() int {
		return strings.Count(out.String(), "User[mpdeploy]/shell: shell changed '/bin/bash' to '/bin/sh'")
	}
	for deadline := time.Now().Add(2 * time.Second); logged() < 20 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := logged(); n != 20 {
		t.Errorf("%d repairs logged, want 20\n%s", n, out.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for a child's output and a reader at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
