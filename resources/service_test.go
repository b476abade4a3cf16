package resources

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// fakeDebian makes a host without systemd as PID 1, with stand-ins for service,
// invoke-rc.d, update-rc.d, /etc/init.d and the rc links, and returns the file
// where the stand-ins log their arguments. The stand-ins answer for these
// services:
//   - up: running (service up status exits 0), invoke-rc.d says 104 (enabled);
//   - down: stopped (exit 3), invoke-rc.d 101 and four start links (enabled);
//   - off: stopped, invoke-rc.d 105 and two start links (not enabled);
//   - gone: no init script, service exits 1 (unrecognized), invoke-rc.d 100.
func fakeDebian(t *testing.T) (log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "log")
	write := func(path, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "comm"), "")
	if err := os.WriteFile(filepath.Join(dir, "comm"), []byte("process_api\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(dir, "service"), `echo "service $*" >>`+log+`
case $1 in up) exit 0;; gone) echo "$1: unrecognized service"; exit 1;; esac; exit 3
`)
	write(filepath.Join(dir, "invoke-rc.d"), `case $3 in up) exit 104;; down) exit 101;; off) exit 105;; esac; exit 100
`)
	write(filepath.Join(dir, "update-rc.d"), `echo "update-rc.d $*" >>`+log+"\n")
	for _, name := range []string{"up", "down", "off"} {
		write(filepath.Join(dir, "init.d", name), `echo "$0 $1" >>`+log+"\n")
	}
	for i, rc := range []string{"rc2.d", "rc3.d", "rc4.d", "rc5.d"} {
		for _, name := range []string{"down", "off"} {
			if name == "off" && i >= 2 {
				continue
			}
			if err := os.MkdirAll(filepath.Join(dir, rc), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../init.d/"+name, filepath.Join(dir, rc, "S01"+name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	oldComm, oldSysv := procOneComm, sysv
	t.Cleanup(func() { procOneComm, sysv = oldComm, oldSysv })
	procOneComm = filepath.Join(dir, "comm")
	sysv.service, sysv.invokeRC, sysv.updateRC = filepath.Join(dir, "service"), filepath.Join(dir, "invoke-rc.d"), filepath.Join(dir, "update-rc.d")
	sysv.initDir, sysv.rcDirs, sysv.disableWithToggle = filepath.Join(dir, "init.d"), filepath.Join(dir, "rc*.d"), "false"
	return log
}

// readLog reads the commands the stand-ins logged, without the temp dir.
func readLog(t *testing.T, log string) []string {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		// The status queries ("service NAME status") are left out.
		if l != "" && !strings.HasPrefix(l, "service ") {
			lines = append(lines, strings.ReplaceAll(l, filepath.Dir(log)+"/", ""))
		}
	}
	return lines
}

// TestServiceWithoutSystemd checks a Service where systemd is not PID 1 against
// what Puppet 7.23 does there: its systemd provider is confined away
// (/proc/1/comm), the debian provider is used (the report's provider_used), and a
// service whose status fails is stopped, so that in noop a missing or stopped
// service is out of sync ("current_value 'stopped', should be 'running' (noop)"),
// not failed.
func TestServiceWithoutSystemd(t *testing.T) {
	fakeDebian(t)
	change := func(p, is, should string) []engine.Change {
		return []engine.Change{{Property: p, Previous: is, Desired: should, Message: p + " changed '" + is + "' to '" + should + "'"}}
	}
	for _, tc := range []struct {
		name, ensure, enable, status string
		ok                           bool
		want                         []engine.Change
	}{
		{"gone", "running", "true", "", false, change("ensure", "stopped", "running")},
		{"gone", "stopped", "false", "", true, nil},
		{"gone", "", "true", "", false, change("enable", "false", "true")},
		{"up", "running", "true", "", true, nil},
		{"up", "stopped", "false", "", false, change("ensure", "running", "stopped")}, // enable follows ensure silently
		{"down", "running", "", "", false, change("ensure", "stopped", "running")},
		{"down", "stopped", "true", "", true, nil},                        // 101: four start links
		{"off", "", "true", "", false, change("enable", "false", "true")}, // 105: two links
		{"off", "", "false", "", true, nil},
		{"down", "running", "", "/bin/true", true, nil}, // the status command wins
		{"up", "stopped", "", "/bin/false", true, nil},
	} {
		t.Run(strings.Join([]string{tc.name, tc.ensure, tc.enable, tc.status}, ","), func(t *testing.T) {
			h := &execTestHandle{}
			s := &Service{Name: tc.name, Ensure: tc.ensure, Enable: tc.enable, Status: tc.status, HasRestart: true}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			_ = s.Init(h)
			ok, err := s.CheckApply(context.Background(), false)
			if err != nil || ok != tc.ok || !reflect.DeepEqual(h.changes, tc.want) {
				t.Errorf("CheckApply(noop) = %v, %v, changes %+v; want %v, %+v", ok, err, h.changes, tc.ok, tc.want)
			}
		})
	}
	if got := (&Service{Name: "up"}).ProviderName(); got != "debian" {
		t.Errorf("ProviderName = %q, want debian", got)
	}
	err := (&Service{Name: "up", Enable: "mask"}).Validate()
	if err == nil || !strings.Contains(err.Error(), "Provider debian must have features 'maskable' to set 'enable' to 'mask'") {
		t.Errorf("mask without systemd: %v", err)
	}
	if err := (&Service{Name: "up"}).Watch(context.Background()); err == nil {
		t.Error("Watch without systemd: no error")
	}
}

// TestServiceWithoutSystemdApply checks the debian provider's commands: the init
// script for ensure, update-rc.d for enable, Puppet's messages for failures.
func TestServiceWithoutSystemdApply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		s       Service
		refresh bool
		want    []string // logged commands, after the status queries
		err     string
	}{
		{"start and enable", Service{Name: "off", Ensure: "running", Enable: "true"}, false,
			[]string{"init.d/off start", "update-rc.d -f off remove", "update-rc.d off defaults"}, ""},
		{"stop", Service{Name: "up", Ensure: "stopped"}, false, []string{"init.d/up stop"}, ""},
		{"disable as Puppet does without sysv-rc", Service{Name: "down", Enable: "false"}, false,
			[]string{"update-rc.d -f down remove", "update-rc.d down stop 00 1 2 3 4 5 6 ."}, ""},
		{"own start command", Service{Name: "off", Ensure: "running", Start: "echo own >>LOG"}, false, []string{"own"}, ""},
		{"no init script", Service{Name: "gone", Ensure: "running"}, false, nil,
			"change from 'stopped' to 'running' failed: Could not find init script for 'gone'"},
		{"failing start", Service{Name: "off", Ensure: "running", Start: "echo oops; exit 2"}, false, nil,
			"change from 'stopped' to 'running' failed: Could not start Service[off]: Execution of 'echo oops; exit 2' returned 2: oops"},
		{"restart", Service{Name: "up", HasRestart: true}, true, []string{"init.d/up restart"}, ""},
		{"restart without hasrestart", Service{Name: "up"}, true, []string{"init.d/up stop", "init.d/up start"}, ""},
		{"no restart when stopped", Service{Name: "down", HasRestart: true}, true, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := fakeDebian(t)
			s := tc.s
			s.Start = strings.ReplaceAll(s.Start, "LOG", log)
			_ = s.Init(&execTestHandle{})
			var err error
			if tc.refresh {
				err = s.Refresh(context.Background(), true)
			} else {
				_, err = s.CheckApply(context.Background(), true)
			}
			if (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
				t.Errorf("error %v, want %q", err, tc.err)
			}
			if got := readLog(t, log); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("commands %q, want %q", got, tc.want)
			}
		})
	}
}
