package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// placeholder is the root every fixture catalog manages paths under.
const placeholder = "/tmp/mgmt-puppet-fixture"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// moduleRoot is the repository's root, found from the test's working directory.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// binary builds mgmt-puppet (and mgmt-puppet-exported beside it) once per test
// process and returns the path of mgmt-puppet. It is
// static (no cgo), so that it also runs inside the test container.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mgmt-puppet-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mgmt-puppet")
		// The lean build, and beside it the build with exported resources (etcd),
		// which the lean one hands the puppetdb command and run's etcd flags to.
		for _, b := range []struct{ out, tags string }{{binPath, ""}, {filepath.Join(dir, "mgmt-puppet-exported"), "exported"}} {
			cmd := exec.Command("go", "build", "-tags", b.tags, "-o", b.out, "./cmd/mgmt-puppet")
			cmd.Dir = moduleRoot(t)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if buildOut, buildErr = cmd.CombinedOutput(); buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("building mgmt-puppet: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// requirePuppet skips without puppet, except in CI, where a missing puppet fails.
func requirePuppet(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("puppet"); err != nil {
		testenv.Missing(t, "puppet is not installed (apt-get install puppet)")
	}
}

// fixtureCatalog writes fixture name's catalog with the placeholder root replaced by
// root, and returns the file's path.
func fixtureCatalog(t testing.TB, name, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "fixtures", name, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte(placeholder), []byte(root))
	path := filepath.Join(t.TempDir(), name+".json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fixtureManifest writes fixture name's manifest with the placeholder root replaced
// by root, and returns the file's path.
func fixtureManifest(t testing.TB, name, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "fixtures", name, "manifest.pp"))
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte(placeholder), []byte(root))
	path := filepath.Join(t.TempDir(), name+".pp")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// result is what one process run printed and returned.
type result struct {
	out  string
	code int
}

func runCommand(t testing.TB, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return result{out: out.String(), code: code}
}

// puppetApply runs real `puppet apply --catalog` with throwaway directories and an
// empty module path (so facter does not run Debian modules' apt facts).
func puppetApply(t testing.TB, catalog string, extra ...string) result {
	t.Helper()
	return puppetApplyArgs(t, append([]string{"--catalog", catalog}, extra...))
}

// puppetApplyManifest compiles and applies a manifest with real `puppet apply`, in
// the same throwaway setting.
func puppetApplyManifest(t testing.TB, manifest string, extra ...string) result {
	t.Helper()
	return puppetApplyArgs(t, append([]string{manifest}, extra...))
}

func puppetApplyArgs(t testing.TB, args []string) result {
	t.Helper()
	tmp := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tmp, "modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"apply", "--color", "false",
		"--confdir", filepath.Join(tmp, "conf"), "--vardir", filepath.Join(tmp, "var"),
		"--codedir", filepath.Join(tmp, "code"), "--basemodulepath", filepath.Join(tmp, "modules")}, args...)
	return runCommand(t, "puppet", args...)
}

// logLines normalises console output for comparison: the root becomes the
// placeholder, timings and facter noise go, and the lines are sorted (a parallel
// engine orders independent resources differently).
func logLines(out, root string) []string {
	var lines []string
	inFacter := false
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(strings.ReplaceAll(l, root, placeholder))
		// The temporary files of a write, named differently by each tool: Puppet's
		// PATH20261201-123-abc(.lock), mgmt-puppet's DIR/.NAME.RANDOM.tmp.
		l = puppetTemp.ReplaceAllString(l, "$1<tmp>")
		l = ourTemp.ReplaceAllString(l, "/$1<tmp>")
		// show_diff's header lines end in each file's time.
		l = diffTime.ReplaceAllString(l, "\t<time>")
		// Puppet resolves facts before it applies a catalog; modules' custom facts
		// fail where their program is missing (puppetlabs-ssh's without ssh), with
		// the Ruby error's lines after. mgmt-puppet applies the catalog without facts.
		if strings.HasPrefix(l, "Error: Facter: ") {
			inFacter = true
			continue
		}
		if inFacter && !hasLevel(l) {
			continue
		}
		inFacter = false
		switch {
		case l == "",
			// Ruby's own warnings about a module's code (datacat's ERB.new), on
			// Puppet's stderr: not Puppet's log lines, not reproduced.
			rubyWarning.MatchString(l),
			strings.Contains(l, "/proc/1/environ"),
			strings.HasPrefix(l, "Notice: Applied catalog in "),
			strings.HasPrefix(l, "Notice: Compiled catalog for "): // puppet apply MANIFEST
			continue
		}
		lines = append(lines, l)
	}
	sortStrings(lines)
	return lines
}

var (
	rubyWarning = regexp.MustCompile(`^/\S+\.rb:\d+: warning: `)
	puppetTemp  = regexp.MustCompile(`(\S+?)\d{8}-\d+-[0-9a-z]+(\.lock)?\b`)
	ourTemp     = regexp.MustCompile(`/\.([^/\s]+)\.mgmt-puppet-[A-Z2-7]{12}\.tmp`)
	diffTime    = regexp.MustCompile(`\t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ [+-]\d{4}$`)
)

// hasLevel reports whether a console line starts with a log level.
func hasLevel(l string) bool {
	for _, p := range []string{"Debug: ", "Info: ", "Notice: ", "Warning: ", "Error: ", "Critical: ", "Alert: ", "Emergency: "} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// startProcess starts cmd with its output in the returned buffer. When the test
// ends it is sent SIGTERM and must exit within grace; else it is killed and the
// test fails.
func startProcess(t testing.TB, cmd *exec.Cmd, grace time.Duration) *lockedBuffer {
	t.Helper()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("%s: no exit within %v of SIGTERM\n%s", cmd.Path, grace, out.String())
		}
	})
	return out
}
