package writers

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// requireRoot fails in CI, and skips elsewhere, without root.
func requireRoot(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t, "fanotify")
}

func TestWatchNamesTheWriter(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "managed.conf")
	other := filepath.Join(dir, "other")
	// Two writers for a bounded time: one rewrites the file, one another file.
	script := func(target string) *exec.Cmd {
		return exec.Command("/bin/sh", "-c", `i=0; while [ $i -lt 400 ]; do echo $i > "$1"; i=$((i+1)); sleep 0.002; done`, "fighter", target)
	}
	a, b := script(path), script(other)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type res struct {
		ws  []Writer
		err error
	}
	done := make(chan res, 1)
	go func() {
		ws, err := Watch(ctx, path, 500*time.Millisecond)
		done <- res{ws, err}
	}()
	time.Sleep(50 * time.Millisecond)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { a.Process.Kill(); a.Wait(); b.Process.Kill(); b.Wait() }()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.ws) != 1 {
		t.Fatalf("writers %v, want only the one writing the file", r.ws)
	}
	w := r.ws[0]
	if w.PID != a.Process.Pid || !w.Exact || !strings.HasPrefix(w.Command, "/bin/sh -c i=0;") {
		t.Errorf("writer %+v, want pid %d, exact, many writes, its command line", w, a.Process.Pid)
	}
	if s := w.String(); !strings.HasSuffix(s, "wrote it") {
		t.Errorf("String() = %q", s)
	}
}

func TestWatchEndsWithContext(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if _, err := Watch(ctx, filepath.Join(t.TempDir(), "f"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > time.Second {
		t.Error("Watch did not end with its context")
	}
}
