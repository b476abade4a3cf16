package agent

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestIsPuppet(t *testing.T) {
	for _, tc := range []struct {
		comm, args string
		want       bool
	}{
		{"puppet", "/usr/bin/ruby /usr/bin/puppet agent -t", true},
		{"ruby", "/usr/bin/ruby /usr/bin/puppet agent", true},
		{"ruby", "/usr/bin/ruby /srv/app.rb", false},
		{"mgmt-puppet", "/usr/bin/mgmt-puppet agent --test", true},
		{"puppet-agent", "x", true},
		{"sleep", "sleep 100", false},
		{"puppetize", "puppetize", false},
	} {
		if got := isPuppet(tc.comm, tc.args); got != tc.want {
			t.Errorf("isPuppet(%q, %q) = %v, want %v", tc.comm, tc.args, got, tc.want)
		}
	}
}

func TestLockRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "state", "agent_catalog_run.lock")
	l, err := LockRun(file)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	if string(data) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock holds %q, want this process's pid with no newline", data)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("the lock is still there after Unlock: %v", err)
	}

	// A lock of a process that is gone is stale and taken over.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file, []byte(strconv.Itoa(dead.Process.Pid)), 0o644)
	l, err = LockRun(file)
	if err != nil {
		t.Fatalf("stale lock of a dead process: %v", err)
	}
	l.Unlock()

	// A lock of a live process that is no Puppet is stale too (Pidlock's test).
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	os.WriteFile(file, []byte(strconv.Itoa(sleeper.Process.Pid)), 0o644)
	l, err = LockRun(file)
	if err != nil {
		t.Fatalf("lock of a live process that is not Puppet: %v", err)
	}
	l.Unlock()

	// A lock of a live Puppet.
	os.WriteFile(file, []byte(strconv.Itoa(livePuppet(t))), 0o644)
	if _, err := LockRun(file); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock of a live puppet: got %v, want ErrLocked", err)
	}
}

// livePuppet starts a process that Pidlock counts as a live Puppet, for the
// test's duration, and returns its PID: the test binary's comm is agent.test, no
// Puppet; a copy of sleep named puppet is one.
func livePuppet(t *testing.T) int {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "puppet")
	sleepPath, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile(sleepPath)
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	fake := exec.Command(bin, "30")
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Process.Kill(); fake.Wait() })
	return fake.Process.Pid
}

func TestDisabled(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		exists        bool
		reason        string
	}{
		{"absent", "", false, ""},
		{"message", `{"disabled_message":"maintenance until 5pm"}`, true, "maintenance until 5pm"},
		{"default", `{"disabled_message":"reason not specified"}`, true, "reason not specified"},
		{"not json", "x", true, "reason not specified"},
	} {
		file := filepath.Join(dir, tc.name)
		if tc.exists {
			os.WriteFile(file, []byte(tc.content), 0o644)
		}
		reason, disabled, err := Disabled(file)
		if err != nil || disabled != tc.exists || reason != tc.reason {
			t.Errorf("%s: Disabled = %q, %v, %v; want %q, %v", tc.name, reason, disabled, err, tc.reason, tc.exists)
		}
	}
}

func TestDisableEnable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", "agent_disabled.lock")
	if ok, err := Disable(file, "maintenance"); !ok || err != nil {
		t.Fatalf("Disable: %v %v", ok, err)
	}
	if ok, err := Disable(file, "another"); ok || err != nil {
		t.Errorf("Disable again: %v %v, want false: the first message stays", ok, err)
	}
	if reason, disabled, err := Disabled(file); !disabled || reason != "maintenance" || err != nil {
		t.Errorf("Disabled: %q %v %v", reason, disabled, err)
	}
	data, _ := os.ReadFile(file)
	if string(data) != `{"disabled_message":"maintenance"}` {
		t.Errorf("lock %s, want Puppet's JSON", data)
	}
	if err := Enable(file); err != nil {
		t.Fatal(err)
	}
	if _, disabled, _ := Disabled(file); disabled {
		t.Error("still disabled after Enable")
	}
	if err := Enable(file); err != nil {
		t.Errorf("Enable when enabled: %v", err)
	}
}

// TestLockPID: the daemon's pidfile is its own when it holds its PID already (a
// restart by exec), and other failures are worded as Ruby's File.open's.
func TestLockPID(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.pid")
	if err := os.WriteFile(file, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := LockPID(file)
	if err != nil {
		t.Fatalf("a pidfile with this process's PID: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("unlocked pidfile still there (%v)", err)
	}
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	bad := filepath.Join(notDir, "agent.pid")
	if _, err := LockPID(bad); err == nil || err.Error() != "Not a directory @ rb_sysopen - "+bad {
		t.Errorf("pidfile under a file: %v", err)
	}
	if _, err := LockPID(filepath.Join(dir, "held")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "held")); string(data) != strconv.Itoa(os.Getpid()) {
		t.Errorf("pidfile holds %q, want this PID", data)
	}
}
