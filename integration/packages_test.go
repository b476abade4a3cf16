package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/integration/testbed"
)

// inTestbed copies the mgmt-puppet binary and fixture's catalog into a booted
// testbed and returns the paths inside it.
func inTestbed(t *testing.T, tb *testbed.Testbed, fixture string) (bin, catalog string) {
	t.Helper()
	data, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tb.Root, "usr/local/bin/mgmt-puppet"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	cat, err := os.ReadFile(filepath.Join(moduleRoot(t), "fixtures", fixture, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tb.Root, "root", fixture+".json"), cat, 0o644); err != nil {
		t.Fatal(err)
	}
	return "/usr/local/bin/mgmt-puppet", "/root/" + fixture + ".json"
}

// TestPackageInTestbed applies the packages fixture inside a real Debian with a real
// systemd: memcached is installed with apt (offline, from the image's archive), its
// configuration written after it; a second run finds everything in sync; then,
// kept converged, a package removed with apt-get is installed again through the
// watch on dpkg's status file, and the repair time is logged.
func TestPackageInTestbed(t *testing.T) {
	tb := testbed.Start(t)
	bin, catalog := inTestbed(t, tb, "packages")
	out, code := tb.Exec(t, bin, "run", "--color", "false", "--detailed-exitcodes", catalog)
	if code != 2 ||
		!strings.Contains(out, "Notice: /Stage[main]/Main/Package[memcached]/ensure: created") ||
		!strings.Contains(out, "Notice: /Stage[main]/Main/File[/etc/memcached.conf]/content: content changed") {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	if v, code := tb.Exec(t, "dpkg-query", "-W", "--showformat", "${Status} ${Version}", "memcached"); code != 0 || !strings.HasPrefix(v, "install ok installed ") {
		t.Fatalf("memcached not installed: %s", v)
	}
	if conf, err := os.ReadFile(filepath.Join(tb.Root, "etc/memcached.conf")); err != nil || !strings.HasPrefix(string(conf), "-m 64\n") {
		t.Fatalf("/etc/memcached.conf: %q %v", conf, err)
	}
	if out, code := tb.Exec(t, bin, "run", "--color", "false", "--detailed-exitcodes", catalog); code != 0 {
		t.Fatalf("second run: exit %d, want 0 (in sync)\n%s", code, out)
	}

	// Continuous: remove the package behind mgmt-puppet's back.
	if out, code := tb.Exec(t, "sh", "-c", "nohup "+bin+" run --color false --converged-timeout -1 "+catalog+
		" >/root/daemon.log 2>&1 & echo $! >/root/daemon.pid"); code != 0 {
		t.Fatalf("starting the daemon: %s", out)
	}
	defer tb.Exec(t, "sh", "-c", "kill $(cat /root/daemon.pid)")
	waitIn := func(what string, cond func() bool) time.Duration {
		start := time.Now()
		for !cond() {
			if time.Since(start) > 60*time.Second {
				log, _ := os.ReadFile(filepath.Join(tb.Root, "root/daemon.log"))
				t.Fatalf("no %s within 60 s\n%s", what, log)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start)
	}
	logged := func(s string) func() bool {
		return func() bool {
			log, _ := os.ReadFile(filepath.Join(tb.Root, "root/daemon.log"))
			return strings.Contains(string(log), s)
		}
	}
	waitIn("first pass", logged("Applied catalog"))
	if out, code := tb.Exec(t, "apt-get", "-y", "-q", "remove", "memcached"); code != 0 {
		t.Fatalf("apt-get remove: %s", out)
	}
	repair := waitIn("reinstall", func() bool {
		v, code := tb.Exec(t, "dpkg-query", "-W", "--showformat", "${Status}", "memcached")
		return code == 0 && v == "install ok installed"
	})
	t.Logf("package removed with apt-get, installed again %v after apt-get returned", repair)
	waitIn("repair logged", logged("Package[memcached]/ensure: created"))
}

// TestServiceInTestbed applies the services fixture inside the test container:
// the configuration change restarts the running service (one refresh); a second
// run changes nothing; then, kept converged, the service stopped or disabled with
// systemctl is started or enabled again through systemd's D-Bus signals, and the
// repair times are logged.
func TestServiceInTestbed(t *testing.T) {
	tb := testbed.Start(t)
	bin, catalog := inTestbed(t, tb, "services")
	out, code := tb.Exec(t, bin, "run", "--color", "false", "--detailed-exitcodes", catalog)
	if code != 2 ||
		!strings.Contains(out, "Notice: /Stage[main]/Main/Package[memcached]/ensure: created") ||
		!strings.Contains(out, "Notice: /Stage[main]/Main/Service[memcached]: Triggered 'refresh' from 1 event") {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	if out, code := tb.Exec(t, "systemctl", "is-active", "memcached"); code != 0 {
		t.Fatalf("memcached not active: %s", out)
	}
	if out, code := tb.Exec(t, bin, "run", "--color", "false", "--detailed-exitcodes", catalog); code != 0 {
		t.Fatalf("second run: exit %d, want 0 (in sync)\n%s", code, out)
	}
	if out, code := tb.Exec(t, "sh", "-c", "nohup "+bin+" run --color false --converged-timeout -1 "+catalog+
		" >/root/daemon.log 2>&1 & echo $! >/root/daemon.pid"); code != 0 {
		t.Fatalf("starting the daemon: %s", out)
	}
	defer tb.Exec(t, "sh", "-c", "kill $(cat /root/daemon.pid)")
	daemonLog := func() string {
		log, _ := os.ReadFile(filepath.Join(tb.Root, "root/daemon.log"))
		return string(log)
	}
	wait := func(what string, cond func() bool) time.Duration {
		start := time.Now()
		for !cond() {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("no %s within 30 s\n%s", what, daemonLog())
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Since(start)
	}
	wait("first pass", func() bool { return strings.Contains(daemonLog(), "Applied catalog") })
	for i, step := range []struct {
		breakIt []string
		check   []string
		logged  string
	}{
		{[]string{"systemctl", "stop", "memcached"}, []string{"systemctl", "is-active", "memcached"},
			"Service[memcached]/ensure: ensure changed 'stopped' to 'running'"},
		{[]string{"systemctl", "disable", "memcached"}, []string{"systemctl", "is-enabled", "memcached"},
			"Service[memcached]/enable: enable changed 'false' to 'true'"},
	} {
		if out, code := tb.Exec(t, step.breakIt...); code != 0 {
			t.Fatalf("%v: %s", step.breakIt, out)
		}
		d := wait("repair", func() bool { _, code := tb.Exec(t, step.check...); return code == 0 })
		t.Logf("%v repaired %v after it returned (polled through nsenter, so an upper bound)", step.breakIt, d)
		wait("repair logged", func() bool { return strings.Count(daemonLog(), step.logged) >= 1 })
		_ = i
	}
}
