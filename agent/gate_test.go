package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestRunGate(t *testing.T) {
	dir := t.TempDir()
	lockFile, disabledFile := filepath.Join(dir, "agent_catalog_run.lock"), filepath.Join(dir, "agent_disabled.lock")
	g := NewRunGate(lockFile, disabledFile)
	var said []string
	g.Waiting = func(why string) { said = append(said, why) }
	ours := strconv.Itoa(os.Getpid())
	lockHolds := func(want string) {
		t.Helper()
		data, err := os.ReadFile(lockFile)
		switch {
		case want == "" && !os.IsNotExist(err):
			t.Fatalf("lock file %q (%v), want none", data, err)
		case want != "" && string(data) != want:
			t.Fatalf("lock file %q (%v), want %q", data, err, want)
		}
	}

	// Repairs alone: the lock is taken and given back.
	if !g.Enter() {
		t.Fatal("Enter refused with nothing in the way")
	}
	lockHolds(ours)
	g.Leave()
	lockHolds("")

	// A run and repairs share one lock: the last to go removes it.
	if err := g.Acquire(); err != nil {
		t.Fatal(err)
	}
	if !g.Enter() {
		t.Fatal("Enter refused during our own run")
	}
	g.Release()
	lockHolds(ours)
	g.Leave()
	lockHolds("")

	// Disabled: repairs wait, and say why once.
	os.WriteFile(disabledFile, []byte(`{"disabled_message":"maintenance"}`), 0o644)
	if g.Enter() || g.Enter() {
		t.Fatal("Enter let repairs start while disabled")
	}
	lockHolds("")
	os.Remove(disabledFile)

	// Another agent's run: repairs wait, and the run cannot start either.
	other := strconv.Itoa(livePuppet(t))
	os.WriteFile(lockFile, []byte(other), 0o644)
	if g.Enter() {
		t.Fatal("Enter let repairs start while a live puppet holds the lock")
	}
	if err := g.Acquire(); !errors.Is(err, ErrLocked) {
		t.Fatalf("Acquire with a live puppet holding the lock: %v, want ErrLocked", err)
	}
	lockHolds(other)
	os.Remove(lockFile)
	if !g.Enter() {
		t.Fatal("Enter refused once the other run was over")
	}
	g.Leave()

	if len(said) != 3 || !strings.Contains(said[0], "disabled (Reason: 'maintenance')") ||
		!strings.Contains(said[1], "another run holds the lock") || !strings.Contains(said[1], "pid "+other) || said[2] != "" {
		t.Errorf("said %q: want the disabled reason once, the other run once, then going on", said)
	}
}
