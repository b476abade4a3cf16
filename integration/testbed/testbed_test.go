package testbed_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/integration/testbed"
)

// TestTestbedBoots boots the container, reaches its systemd over the bus address, runs
// commands inside, and stops it.
func TestTestbedBoots(t *testing.T) {
	begin := time.Now()
	tb := testbed.Start(t)
	t.Logf("Start (unpack and boot): %v", time.Since(begin).Round(time.Millisecond))

	out, err := exec.Command("busctl", "--address="+tb.BusAddress, "get-property",
		"org.freedesktop.systemd1", "/org/freedesktop/systemd1",
		"org.freedesktop.systemd1.Manager", "SystemState").CombinedOutput()
	if err != nil {
		t.Fatalf("busctl over %s: %v: %s", tb.BusAddress, err, out)
	}
	if state := strings.TrimSpace(string(out)); state != `s "running"` && state != `s "degraded"` {
		t.Errorf("SystemState = %s, want running or degraded", state)
	}

	if out, code := tb.Exec(t, "id", "-u"); code != 0 || strings.TrimSpace(out) != "0" {
		t.Errorf("id -u = %q, code %d; want 0, code 0", out, code)
	}
	if out, code := tb.Exec(t, "getent", "passwd", "root"); code != 0 || !strings.HasPrefix(out, "root:x:0:0:") {
		t.Errorf("getent passwd root = %q, code %d", out, code)
	}
	if out, code := tb.Exec(t, "hostname"); code != 0 || strings.TrimSpace(out) != "testbed" {
		t.Errorf("hostname = %q, code %d; want testbed", out, code)
	}
	if _, code := tb.Exec(t, "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exit 3 inside gave code %d", code)
	}
	if v, err := os.ReadFile(filepath.Join(tb.Root, "etc", "debian_version")); err != nil || !strings.HasPrefix(string(v), "12") {
		t.Errorf("Root %s: debian_version %q, %v; want bookworm (12)", tb.Root, v, err)
	}

	begin = time.Now()
	tb.Stop(t)
	t.Logf("Stop: %v", time.Since(begin).Round(time.Millisecond))
	if _, err := os.Stat(filepath.Join(tb.Dir, "pid")); !os.IsNotExist(err) {
		t.Errorf("pid file still there after Stop: %v", err)
	}
}
