package fswatch

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bound is how long a test waits for a poke; typical latency is about a millisecond.
const bound = time.Second

// quiet is how long a test waits to be sure no poke comes.
const quiet = 50 * time.Millisecond

// probe counts pokes of one path on a buffered channel.
type probe struct{ c chan struct{} }

func newProbe() *probe { return &probe{c: make(chan struct{}, 1000)} }

func (p *probe) fn() {
	select {
	case p.c <- struct{}{}:
	default:
	}
}

// drain forgets pokes so far.
func (p *probe) drain() {
	for {
		select {
		case <-p.c:
		default:
			return
		}
	}
}

// expect waits for a poke caused by what do does and returns the latency.
func (p *probe) expect(t *testing.T, what string, do func() error) time.Duration {
	t.Helper()
	p.drain()
	start := time.Now()
	if err := do(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	select {
	case <-p.c:
		d := time.Since(start)
		t.Logf("%s: poked after %v", what, d)
		return d
	case <-time.After(bound):
		t.Fatalf("%s: no poke within %v", what, bound)
		return 0
	}
}

// none checks that what do does causes no poke.
func (p *probe) none(t *testing.T, what string, do func() error) {
	t.Helper()
	p.drain()
	if err := do(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	select {
	case <-p.c:
		t.Fatalf("%s: unexpected poke", what)
	case <-time.After(quiet):
	}
}

func started(t *testing.T) *Watcher {
	t.Helper()
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	w.Start(t.Context())
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

func add(t *testing.T, w *Watcher, path string) (*probe, func()) {
	t.Helper()
	p := newProbe()
	cancel, err := w.Add(path, p.fn)
	if err != nil {
		t.Fatal(err)
	}
	return p, cancel
}

func TestFileTimeline(t *testing.T) {
	w := started(t)
	d := t.TempDir()
	f := filepath.Join(d, "f")
	p, cancel := add(t, w, f)
	defer cancel()

	p.expect(t, "create", func() error { return os.WriteFile(f, []byte("a"), 0o644) })
	p.expect(t, "write", func() error {
		fh, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		t.Cleanup(func() { fh.Close() })
		_, err = fh.WriteString("b")
		return err // the handle stays open: IN_MODIFY alone must poke
	})
	p.expect(t, "chmod", func() error { return os.Chmod(f, 0o600) })
	p.expect(t, "chown", func() error { return os.Chown(f, os.Getuid(), os.Getgid()) })
	p.expect(t, "delete", func() error { return os.Remove(f) })
	p.expect(t, "rename over", func() error {
		tmp := filepath.Join(d, ".tmp")
		if err := os.WriteFile(tmp, []byte("c"), 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, f)
	})
	p.expect(t, "rename away", func() error { return os.Rename(f, filepath.Join(d, "g")) })
	p.none(t, "sibling", func() error { return os.WriteFile(filepath.Join(d, "h"), nil, 0o644) })
	p.expect(t, "symlink", func() error { return os.Symlink("/nowhere", f) })
}

func TestDirectoryPath(t *testing.T) {
	w := started(t)
	d := filepath.Join(t.TempDir(), "sub")
	p, cancel := add(t, w, d)
	defer cancel()
	p.expect(t, "mkdir", func() error { return os.Mkdir(d, 0o755) })
	p.expect(t, "chmod dir", func() error { return os.Chmod(d, 0o700) })
	p.expect(t, "chown dir", func() error { return os.Chown(d, os.Getuid(), os.Getgid()) })
	p.none(t, "file inside", func() error { return os.WriteFile(filepath.Join(d, "x"), nil, 0o644) })
	p.expect(t, "rmdir", func() error { return os.RemoveAll(d) })
	if s := w.Stats(); s.Watches != 1 {
		t.Errorf("Stats = %+v, want 1 watch (the parent)", s)
	}
}

func TestParentDeletedAndRecreated(t *testing.T) {
	w := started(t)
	root := t.TempDir()
	d := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(d, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p, cancel := add(t, w, f)
	defer cancel()

	var lat []time.Duration
	lat = append(lat, p.expect(t, "remove parent tree", func() error { return os.RemoveAll(filepath.Join(root, "a")) }))
	// Give the reader the IN_IGNORED and its re-arm on root before recreating.
	time.Sleep(10 * time.Millisecond)
	lat = append(lat, p.expect(t, "recreate parents", func() error { return os.MkdirAll(d, 0o755) }))
	lat = append(lat, p.expect(t, "create file", func() error { return os.WriteFile(f, nil, 0o644) }))
	lat = append(lat, p.expect(t, "delete file", func() error { return os.Remove(f) }))
	t.Logf("latencies %v", lat)
	w.mu.Lock()
	dd, ok := w.dirs[d]
	w.mu.Unlock()
	if !ok || dd.n != 1 {
		t.Errorf("not re-armed on %s: %v", d, w.Stats())
	}
}

func TestMissingAncestors(t *testing.T) {
	w := started(t)
	root := t.TempDir()
	d := filepath.Join(root, "x", "y", "z")
	f := filepath.Join(d, "f")
	p, cancel := add(t, w, f)
	defer cancel()
	// One mkdir -p and a write, as fast as possible: each step races the re-arm.
	for i := 0; i < 20; i++ {
		p.expect(t, "mkdir -p and write", func() error {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			return os.WriteFile(f, nil, 0o644)
		})
		// The file must be watched through its own parent now.
		deadline := time.Now().Add(bound)
		for {
			w.mu.Lock()
			_, ok := w.dirs[d]
			w.mu.Unlock()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %s not watched: %+v", i, d, w.Stats())
			}
			time.Sleep(time.Millisecond)
		}
		p.expect(t, "chmod", func() error { return os.Chmod(f, 0o600) })
		p.expect(t, "remove all", func() error { return os.RemoveAll(filepath.Join(root, "x")) })
		time.Sleep(5 * time.Millisecond)
	}
}

func TestParentMoved(t *testing.T) {
	w := started(t)
	root := t.TempDir()
	a := filepath.Join(root, "a")
	if err := os.Mkdir(a, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(a, "f")
	p, cancel := add(t, w, f)
	defer cancel()
	p.expect(t, "move parent away", func() error { return os.Rename(a, filepath.Join(root, "b")) })
	time.Sleep(10 * time.Millisecond)
	p.none(t, "write in moved dir", func() error { return os.WriteFile(filepath.Join(root, "b", "f"), nil, 0o644) })
	p.expect(t, "parent back", func() error { return os.Mkdir(a, 0o755) })
	p.expect(t, "create", func() error { return os.WriteFile(f, nil, 0o644) })
}

func TestCancel(t *testing.T) {
	w := started(t)
	d := t.TempDir()
	f := filepath.Join(d, "f")
	p, cancel := add(t, w, f)
	p2, cancel2 := add(t, w, filepath.Join(d, "missing", "g"))
	if s := w.Stats(); s.Paths != 2 || s.Watches != 1 {
		t.Errorf("Stats = %+v, want 2 paths on 1 watch", s)
	}
	cancel()
	cancel()
	cancel2()
	p.none(t, "after cancel", func() error { return os.WriteFile(f, nil, 0o644) })
	p2.none(t, "after cancel", func() error { return os.Mkdir(filepath.Join(d, "missing"), 0o755) })
	if s := w.Stats(); s != (Stats{}) {
		t.Errorf("Stats = %+v after cancel, want zero", s)
	}
}

func TestManyPathsFewWatches(t *testing.T) {
	w := started(t)
	root := t.TempDir()
	const dirs, per = 100, 100
	probes := map[string]*probe{}
	var cancels []func()
	for i := 0; i < dirs; i++ {
		d := filepath.Join(root, fmt.Sprintf("d%03d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < per; j++ {
			f := filepath.Join(d, fmt.Sprintf("f%03d", j))
			p, cancel := add(t, w, f)
			probes[f] = p
			cancels = append(cancels, cancel)
		}
	}
	s := w.Stats()
	t.Logf("%d paths: %+v", dirs*per, s)
	if s.Paths != dirs*per || s.Watches != dirs {
		t.Errorf("Stats = %+v, want %d paths on %d watches", s, dirs*per, dirs)
	}
	// Every path still gets its own events.
	for _, f := range []string{filepath.Join(root, "d000", "f000"), filepath.Join(root, "d099", "f099"), filepath.Join(root, "d050", "f007")} {
		probes[f].expect(t, "create "+f, func() error { return os.WriteFile(f, nil, 0o644) })
	}
	for _, c := range cancels {
		c()
	}
	if s := w.Stats(); s != (Stats{}) {
		t.Errorf("Stats = %+v after cancel, want zero", s)
	}
}

// TestOverflow feeds the reader's dispatcher a synthetic IN_Q_OVERFLOW: everyone is
// poked and pending paths try to move down.
func TestOverflow(t *testing.T) {
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	root := t.TempDir()
	var got []string
	for _, name := range []string{"a", "b", "sub/c"} {
		name := name
		if _, err := w.Add(filepath.Join(root, name), func() { got = append(got, name) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, unix.SizeofInotifyEvent)
	binary.NativeEndian.PutUint32(buf[0:4], ^uint32(0)) // wd -1
	binary.NativeEndian.PutUint32(buf[4:8], unix.IN_Q_OVERFLOW)
	for _, fn := range w.dispatch(buf) {
		fn()
	}
	sort.Strings(got)
	if fmt.Sprint(got) != "[a b sub/c]" {
		t.Errorf("poked %v, want all three", got)
	}
	if _, ok := w.dirs[filepath.Join(root, "sub")]; !ok {
		t.Errorf("pending path not re-armed after overflow: %+v", w.Stats())
	}
}

func TestCloseUnblocksAndRefuses(t *testing.T) {
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	w.Start(t.Context())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add(filepath.Join(t.TempDir(), "f"), func() {}); err != ErrClosed {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestLatency(t *testing.T) {
	w := started(t)
	d := t.TempDir()
	f := filepath.Join(d, "f")
	p, cancel := add(t, w, f)
	defer cancel()
	var total, worst time.Duration
	const n = 200
	for i := 0; i < n; i++ {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		p.drain()
		start := time.Now()
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.c:
		case <-time.After(bound):
			t.Fatalf("delete %d: no poke within %v", i, bound)
		}
		l := time.Since(start)
		total += l
		worst = max(worst, l)
	}
	t.Logf("delete→poke over %d deletes: mean %v, worst %v", n, total/n, worst)
}

func BenchmarkAdd(b *testing.B) {
	w, err := New()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	root := b.TempDir()
	const per = 100 // paths per directory
	ndirs := b.N/per + 1
	for i := 0; i < ndirs; i++ {
		if err := os.Mkdir(filepath.Join(root, fmt.Sprint(i)), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	paths := make([]string, b.N)
	for i := range paths {
		paths[i] = filepath.Join(root, fmt.Sprint(i/per), fmt.Sprint(i))
	}
	cancels := make([]func(), 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := w.Add(paths[i], func() {})
		if err != nil {
			b.Fatal(err)
		}
		cancels = append(cancels, c)
	}
	b.StopTimer()
	b.ReportMetric(float64(w.Stats().Watches), "watches")
	for _, c := range cancels {
		c()
	}
}
