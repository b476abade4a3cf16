package fswatch

// Benchmarks of the hand-written watcher (watcher.go) against the smallest fair
// equivalent built on github.com/fsnotify/fsnotify, for 100,000 files in 1000
// directories: set-up time and allocations, live heap, and event latency.
//
// What fsWatcher (the fsnotify version below) lacks compared to watcher.go, i.e. the
// code we would still have to write and own on top of fsnotify:
//
//   - Missing parents: fsnotify's Add fails with ENOENT when a path's directory does
//     not exist. watcher.go listens from the nearest existing ancestor and moves down
//     as directories appear (arm, rearm, the appearMask handling, the race of a
//     directory created before its parent's watch began).
//   - Re-arming: when a watched directory is removed or moved away fsnotify drops the
//     watch (IN_IGNORED is swallowed, IN_MOVE_SELF removes it); fsWatcher only pokes
//     the directory's listeners. watcher.go re-arms them from the nearest ancestor and
//     follows the directory when it is created again.
//   - Symlinked / aliased directories: when two paths reach the same directory inode
//     the kernel returns the same watch descriptor; fsnotify keeps only the first
//     path for that wd and names every event after it, so listeners that registered
//     through the second path are never poked (and fsnotify.Remove of that path
//     fails). watcher.go keeps a list of paths per wd.
//   - Self events are ambiguous: an fsnotify Event does not say whether it is about
//     the watched directory itself (DELETE_SELF/MOVE_SELF) or a child of that name,
//     and fsnotify hides DELETE_SELF when the directory's parent is watched too.
//     fsWatcher therefore pokes both readings.
//   - IN_CLOSE_WRITE: only reachable through fsnotify's unexported unportable ops,
//     so fsWatcher listens to Create|Write|Remove|Rename|Chmod (IN_MODIFY still
//     reports every write, so pokes are not lost; one fewer event per write).
//   - IN_ONLYDIR is not set: a regular file where a directory is expected is watched
//     as a file instead of failing.
//   - Stats (paths, dirs, watches, arm failures) and the Start(ctx)/Close contract
//     (Close waits for the reader so no callback runs afterwards) are re-done here by
//     hand; per-read de-duplication of pokes is not done at all (fsnotify hands over
//     one event at a time on an unbuffered channel).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fsWatcher is Watcher's core on fsnotify: one fsnotify.Watcher, one Add per parent
// directory, and dir → child name → callbacks.
type fsWatcher struct {
	w    *fsnotify.Watcher
	mu   sync.Mutex
	dirs map[string]map[string]map[*fsEntry]struct{} // dir → child name → entries
	done chan struct{}
}

type fsEntry struct{ fn func() }

func newFS() (*fsWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	f := &fsWatcher{w: w, dirs: map[string]map[string]map[*fsEntry]struct{}{}, done: make(chan struct{})}
	go f.run()
	return f, nil
}

// Close stops fsnotify and waits for the dispatch goroutine, so no callback runs after.
func (f *fsWatcher) Close() error {
	err := f.w.Close()
	<-f.done
	return err
}

// Add calls fn when path's directory reports an event about path (or about itself).
func (f *fsWatcher) Add(path string, fn func()) (cancel func(), err error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("fsnotify: %q is not absolute", path)
	}
	path = filepath.Clean(path)
	d, name := filepath.Dir(path), filepath.Base(path)
	e := &fsEntry{fn: fn}
	f.mu.Lock()
	defer f.mu.Unlock()
	names, ok := f.dirs[d]
	if !ok {
		if err := f.w.Add(d); err != nil {
			return nil, fmt.Errorf("fsnotify: watch %s: %w", path, err)
		}
		names = map[string]map[*fsEntry]struct{}{}
		f.dirs[d] = names
	}
	set := names[name]
	if set == nil {
		set = map[*fsEntry]struct{}{}
		names[name] = set
	}
	set[e] = struct{}{}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		e.fn = nil
		names, ok := f.dirs[d]
		if !ok {
			return
		}
		delete(names[name], e)
		if len(names[name]) == 0 {
			delete(names, name)
		}
		if len(names) == 0 {
			delete(f.dirs, d)
			_ = f.w.Remove(d)
		}
	}, nil
}

// run dispatches fsnotify's events and errors until Close.
func (f *fsWatcher) run() {
	defer close(f.done)
	var fns []func()
	events, errs := f.w.Events, f.w.Errors
	for events != nil || errs != nil {
		fns = fns[:0]
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			f.mu.Lock()
			// A child of its directory...
			if names, ok := f.dirs[filepath.Dir(ev.Name)]; ok {
				for e := range names[filepath.Base(ev.Name)] {
					if e.fn != nil {
						fns = append(fns, e.fn)
					}
				}
			}
			// ...or the watched directory itself going away: everyone listening
			// through it may have changed (and is not re-armed, see above).
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				for _, set := range f.dirs[ev.Name] {
					for e := range set {
						if e.fn != nil {
							fns = append(fns, e.fn)
						}
					}
				}
			}
			f.mu.Unlock()
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				f.mu.Lock()
				for _, names := range f.dirs {
					for _, set := range names {
						for e := range set {
							if e.fn != nil {
								fns = append(fns, e.fn)
							}
						}
					}
				}
				f.mu.Unlock()
			}
		}
		for _, fn := range fns {
			fn()
		}
	}
}

// benchImpl is what the benchmarks need of either implementation.
type benchImpl interface {
	Add(path string, fn func()) (func(), error)
	Close() error
}

var impls = []struct {
	name string
	open func() (benchImpl, error)
}{
	{"fswatch", func() (benchImpl, error) {
		w, err := New()
		if err != nil {
			return nil, err
		}
		w.Start(context.Background())
		return w, nil
	}},
	{"fsnotify", func() (benchImpl, error) { return newFS() }},
}

const (
	benchDirs    = 1000
	benchPerDir  = 100
	benchFiles   = benchDirs * benchPerDir
	latencyN     = 1000 // write→callback round trips per op
	latencyBound = 2 * time.Second
)

// benchTree creates benchDirs directories of benchPerDir files each and returns the
// file paths.
func benchTree(b *testing.B) []string {
	b.Helper()
	root := b.TempDir()
	paths := make([]string, 0, benchFiles)
	for i := 0; i < benchDirs; i++ {
		d := filepath.Join(root, fmt.Sprintf("d%04d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < benchPerDir; j++ {
			p := filepath.Join(d, fmt.Sprintf("f%03d", j))
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
			paths = append(paths, p)
		}
	}
	return paths
}

// heapMB is the live heap after a full collection.
func heapMB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

func BenchmarkWatchSetup(b *testing.B) {
	paths := benchTree(b)
	fns := make([]func(), len(paths))
	for i := range fns {
		fns[i] = func() {}
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			cancels := make([]func(), len(paths))
			var heap, heapDelta float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				before := heapMB()
				b.StartTimer()
				w, err := impl.open()
				if err != nil {
					b.Fatal(err)
				}
				for j, p := range paths {
					c, err := w.Add(p, fns[j])
					if err != nil {
						b.Fatal(err)
					}
					cancels[j] = c
				}
				b.StopTimer()
				heap = heapMB()
				heapDelta += heap - before
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				clear(cancels)
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(heap, "heap-MB")                      // live heap with the watcher set up
			b.ReportMetric(heapDelta/float64(b.N), "watcher-MB") // of which the watcher's own
		})
	}
}

func BenchmarkEventLatency(b *testing.B) {
	paths := benchTree(b)
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			w, err := impl.open()
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			// Each callback reports its file's index; pokes of earlier writes that
			// arrive late are for another file and are skipped.
			poked := make(chan int, 4096)
			for i, p := range paths {
				i := i
				if _, err := w.Add(p, func() {
					select {
					case poked <- i:
					default:
					}
				}); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2)) // same file sequence for both
			data := []byte("y")
			lat := make([]time.Duration, 0, latencyN*b.N)
			timer := time.NewTimer(latencyBound)
			last := -1
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				for i := 0; i < latencyN; i++ {
					k := rng.IntN(len(paths))
					if k == last {
						k = (k + 1) % len(paths)
					}
					last = k
				drain:
					for {
						select {
						case <-poked:
						default:
							break drain
						}
					}
					timer.Reset(latencyBound)
					start := time.Now()
					if err := os.WriteFile(paths[k], data, 0o644); err != nil {
						b.Fatal(err)
					}
				wait:
					for {
						select {
						case got := <-poked:
							if got == k {
								break wait
							}
						case <-timer.C:
							b.Fatalf("%s: no callback within %v", paths[k], latencyBound)
						}
					}
					lat = append(lat, time.Since(start))
					timer.Stop()
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1e3
			}
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
		})
	}
}
