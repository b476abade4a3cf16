package testbed

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// startTimeout bounds `testbed.sh start`, which builds the image first when it is not
// cached (debootstrap: one to two minutes; the corpus image downloads every package
// the corpus catalogs install).
var startTimeout = map[Flavor]time.Duration{Base: 10 * time.Minute, Corpus: 60 * time.Minute}

// Flavor names an image of testbed.sh (TESTBED_FLAVOR).
type Flavor string

// The images: Base has Puppet and the .debs of memcached and ntp; Corpus has
// Puppet with Debian's Puppet modules, and the .debs of every package the catalogs
// of fixtures/corpus install.
const (
	Base   Flavor = "base"
	Corpus Flavor = "corpus"
)

// Testbed is one running container. Start returns it; Stop, or the test's cleanup,
// halts it and removes Dir.
type Testbed struct {
	// Dir holds the container: rootfs/, bus/, console.log and testbed.sh's state.
	Dir string
	// BusAddress is the container's system bus, for DBUS_SYSTEM_BUS_ADDRESS.
	BusAddress string
	// Root is the container's root directory as the host sees it.
	Root string

	script  string
	stopped bool
}

// Start boots a testbed for t and stops and removes it when t ends. Where the machine
// cannot run one (not root, systemd-nspawn missing...) it skips t, except with CI=true,
// where it fails t.
func Start(t testing.TB) *Testbed {
	t.Helper()
	return StartFlavor(t, Base)
}

// StartFlavor is Start with the image flavor.
func StartFlavor(t testing.TB, flavor Flavor) *Testbed {
	t.Helper()
	if reason := unsupported(); reason != "" {
		testenv.Missing(t, "testbed: %s", reason)
	}
	script := filepath.Join(repoRoot(t), "scripts", "testbed.sh")
	dir, err := os.MkdirTemp("", "mgmt-puppet-testbed-")
	if err != nil {
		t.Fatal(err)
	}
	tb := &Testbed{Dir: dir, Root: filepath.Join(dir, "rootfs"), script: script}
	// Registered before starting, so that a half-started container is stopped too.
	// The rootfs holds root-owned trees and device nodes: rm, not os.RemoveAll, and
	// never across a mount.
	t.Cleanup(func() {
		tb.Stop(t)
		if out, err := exec.Command("rm", "-rf", "--one-file-system", dir).CombinedOutput(); err != nil {
			t.Errorf("testbed: removing %s: %v: %s", dir, err, out)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout[flavor])
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "start", dir)
	cmd.Env = append(os.Environ(), "TESTBED_FLAVOR="+string(flavor))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("testbed: %s start %s: %v\n%s", script, dir, err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Log(s)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	tb.BusAddress = lines[len(lines)-1]
	if !strings.HasPrefix(tb.BusAddress, "unix:path=") {
		t.Fatalf("testbed: start printed no bus address: %q", stdout.String())
	}
	return tb
}

// Exec runs args inside the container, as root in all of its namespaces with a clean
// environment, and returns its output (stdout and stderr together) and exit code. It
// fails t only when the command cannot be run at all; testbed.sh's own errors (no
// container running) come back as code 1 with their message.
func (tb *Testbed) Exec(t testing.TB, args ...string) (output string, code int) {
	t.Helper()
	out, err := exec.Command(tb.script, append([]string{"exec", tb.Dir}, args...)...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("testbed: exec %q: %v: %s", args, err, out)
		return "", -1
	}
}

// Stop halts the container and waits for it to exit. It leaves Dir, which the test's
// cleanup removes; calling it again does nothing.
func (tb *Testbed) Stop(t testing.TB) {
	t.Helper()
	if tb.stopped {
		return
	}
	tb.stopped = true
	if out, err := exec.Command(tb.script, "stop", tb.Dir).CombinedOutput(); err != nil {
		t.Errorf("testbed: stop %s: %v: %s", tb.Dir, err, out)
	}
}

// unsupported says why this machine cannot run a testbed, or "" if it can.
func unsupported() string {
	if os.Geteuid() != 0 {
		return "needs root to boot a container"
	}
	for _, c := range []string{"systemd-nspawn", "debootstrap", "busctl", "nsenter", "tar"} {
		if _, err := exec.LookPath(c); err != nil {
			return c + " not found (scripts/deps.sh installs it)"
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		return "no /sys/fs/cgroup"
	}
	return ""
}

// repoRoot is the directory of the module's go.mod, as `go env GOMOD` names it.
func repoRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("testbed: go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("testbed: not inside the module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod)
}
