package integration

import (
	"fmt"
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

// startDaemon runs `mgmt-puppet run --color false --converged-timeout -1 ARGS...`
// in the background inside tb, logging to /root/daemon.log, and stops it when t
// ends; it returns a reader of that log.
func startDaemon(t *testing.T, tb *testbed.Testbed, bin string, args ...string) (daemonLog func() string) {
	t.Helper()
	if out, code := tb.Exec(t, "sh", "-c", "nohup "+bin+" run --color false --converged-timeout -1 "+strings.Join(args, " ")+
		" >/root/daemon.log 2>&1 & echo $! >/root/daemon.pid"); code != 0 {
		t.Fatalf("starting the daemon: %s", out)
	}
	t.Cleanup(func() { tb.Exec(t, "sh", "-c", "kill $(cat /root/daemon.pid)") })
	return func() string {
		log, _ := os.ReadFile(filepath.Join(tb.Root, "root/daemon.log"))
		return string(log)
	}
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
	// --fight-after 0: drifts repeat on the same resources to measure each repair,
	// which the default would take for a fight and slow down.
	if out, code := tb.Exec(t, "sh", "-c", "nohup "+bin+" run --color false --converged-timeout -1 --fight-after 0 "+catalog+
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
// systemctl is started or enabled again through systemd's D-Bus signals, as is
// the service named by an alias of its unit, and the repair times are logged.
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
	// --fight-after 0: drifts repeat on the same resources to measure each repair,
	// which the default would take for a fight and slow down.
	daemonLog := startDaemon(t, tb, bin, "--fight-after", "0", catalog)
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
		// Stopped under the unit's own name: systemd signals under it, not the alias's.
		{[]string{"systemctl", "stop", "mpt-sleeper"}, []string{"systemctl", "is-active", "mpt-alias"},
			"Service[mpt-alias]/ensure: ensure changed 'stopped' to 'running'"},
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

// TestServicesMatchPuppetInTestbed applies the services fixture with mgmt-puppet in
// one container and with real `puppet apply --catalog` in a second copy of the same
// image: first apply, no-op re-apply, and a re-apply after the same drift (service
// stopped and disabled) in both. Exit codes, log lines and the resulting state
// (package, unit state, configuration) must agree; wall times are logged.
func TestServicesMatchPuppetInTestbed(t *testing.T) {
	matchPuppetInTestbed(t, "services", [][]string{
		{"dpkg-query", "-W", "--showformat", "${Status} ${Version}", "memcached"},
		{"systemctl", "is-active", "memcached"},
		{"systemctl", "is-enabled", "memcached"},
		{"cat", "/etc/memcached.conf"},
		{"systemctl", "is-active", "mpt-alias"},
	}, "systemctl stop memcached mpt-sleeper && systemctl disable -q memcached")
}

// TestModuleCatalogMatchesPuppetInTestbed does the same for a catalog compiled from
// a real Debian module, puppetlabs-ntp, with memcached beside it; the drift removes
// ntp's package and edits its configuration.
func TestModuleCatalogMatchesPuppetInTestbed(t *testing.T) {
	matchPuppetInTestbed(t, "ntpnode", [][]string{
		{"dpkg-query", "-W", "--showformat", "${Status} ${Version}", "ntp", "memcached"},
		{"systemctl", "is-active", "memcached"},
		{"systemctl", "is-enabled", "memcached"},
		{"cat", "/etc/ntp.conf", "/etc/memcached.conf"},
		{"stat", "-c", "%a %U %G", "/etc/ntp.conf"},
	}, "echo '# drift' >> /etc/ntp.conf && systemctl stop memcached")
}

// matchPuppetInTestbed applies fixture's catalog with mgmt-puppet in one testbed and
// with real puppet apply in another, three times (first apply, no-op, after the
// shell command drift ran in both), comparing exit codes, log lines and the output
// of the state commands.
func matchPuppetInTestbed(t *testing.T, fixture string, stateCmds [][]string, drift string) {
	ours, theirs := testbed.Start(t), testbed.Start(t)
	if _, code := theirs.Exec(t, "puppet", "--version"); code != 0 {
		t.Fatal("the testbed image has no puppet: rebuild it (scripts/testbed.sh build)")
	}
	bin, catalog := inTestbed(t, ours, fixture)
	_, theirCatalog := inTestbed(t, theirs, fixture)
	state := func(tb *testbed.Testbed) string {
		var b strings.Builder
		for _, cmd := range stateCmds {
			out, code := tb.Exec(t, cmd...)
			fmt.Fprintf(&b, "%v: %d %s\n", cmd, code, strings.TrimSpace(out))
		}
		return b.String()
	}
	for pass, name := range []string{"first apply", "no-op re-apply", "after drift"} {
		if pass == 2 {
			for _, tb := range []*testbed.Testbed{ours, theirs} {
				if out, code := tb.Exec(t, "sh", "-c", drift); code != 0 {
					t.Fatalf("drift: %s", out)
				}
			}
		}
		start := time.Now()
		got, gotCode := ours.Exec(t, bin, "run", "--color", "false", catalog)
		ourTime := time.Since(start)
		start = time.Now()
		want, wantCode := theirs.Exec(t, "puppet", "apply", "--catalog", theirCatalog, "--color", "false")
		theirTime := time.Since(start)
		t.Logf("%s %s: puppet %.2f s, mgmt-puppet %.2f s", fixture, name, theirTime.Seconds(), ourTime.Seconds())
		if gotCode != wantCode {
			t.Errorf("%s: exit %d, puppet exit %d\nours:\n%s\npuppet:\n%s", name, gotCode, wantCode, got, want)
		}
		if g, w := logLines(got, "/nonexistent"), logLines(want, "/nonexistent"); strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s: log lines differ\nours:\n  %s\npuppet:\n  %s", name, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
		}
		if g, w := state(ours), state(theirs); g != w {
			t.Errorf("%s: state differs\nours:\n%s\npuppet:\n%s", name, g, w)
		}
	}
}
