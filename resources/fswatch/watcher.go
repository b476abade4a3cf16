package fswatch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// dirMask is what a directory watch asks the kernel for: every change of a child's
// existence, content or attributes, and the directory's own end.
const dirMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_ATTRIB |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// goneMask marks events after which a directory watch no longer follows its path.
const goneMask = unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_IGNORED | unix.IN_UNMOUNT

// appearMask marks events that may let a pending path move one directory down.
const appearMask = unix.IN_CREATE | unix.IN_MOVED_TO

// ErrClosed is returned by Add after Close.
var ErrClosed = errors.New("fswatch: watcher closed")

// Watcher is one inotify instance shared by many paths. It is safe for concurrent use.
type Watcher struct {
	fd int
	f  *os.File // fd in Go's poller, so that Close unblocks the reader

	mu     sync.Mutex
	dirs   map[string]*dir  // watched directory path → its watch
	wds    map[int32][]*dir // kernel watch → the paths it was added for (several through symlinks)
	closed bool
	armErr int // re-arm failures after Add returned (the watch limit, say)

	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed when the reader returns
	started   bool
}

// dir is one watched directory and the entries that listen through it.
type dir struct {
	path  string
	wd    int32
	names map[string]map[*entry]struct{} // child name → entries ("" = the directory itself)
	n     int
}

// entry is one registration of Add.
type entry struct {
	path string
	fn   func()
	dir  *dir   // where it listens now; nil when cancelled or when no ancestor could be watched
	name string // the child of dir it listens for
}

// Stats counts what a watcher holds.
type Stats struct {
	Paths    int // registrations
	Dirs     int // directory paths watched
	Watches  int // kernel watches (inotify watch descriptors)
	ArmFails int // registrations that lost their watch and could not re-arm it
}

// New opens an inotify instance. Call Start to deliver events and Close to free it.
func New() (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("fswatch: inotify_init1: %w", err)
	}
	return &Watcher{
		fd:   fd,
		f:    os.NewFile(uintptr(fd), "inotify"),
		dirs: map[string]*dir{},
		wds:  map[int32][]*dir{},
		done: make(chan struct{}),
	}, nil
}

// Start runs the reader goroutine until Close or the end of ctx, which closes the
// watcher. Calling it again does nothing.
func (w *Watcher) Start(ctx context.Context) {
	w.start()
	context.AfterFunc(ctx, func() { _ = w.Close() })
}

func (w *Watcher) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.closed {
		return
	}
	w.started = true
	go w.run()
}

// Close stops the reader and closes the inotify instance; it waits for the reader to
// return, so no callback runs after Close returns.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		started := w.started
		w.mu.Unlock()
		w.closeErr = w.f.Close()
		if started {
			<-w.done
		}
	})
	return w.closeErr
}

// Add calls fn whenever path may have changed: created, removed, moved in or out,
// written, or its mode or owner changed; also when a missing parent directory appears
// or a parent disappears, and for everyone when the kernel queue overflowed. fn runs
// on the reader goroutine and must not block (poke a channel, say); it may run
// shortly after cancel returns. cancel is idempotent.
func (w *Watcher) Add(path string, fn func()) (cancel func(), err error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("fswatch: %q is not absolute", path)
	}
	e := &entry{path: filepath.Clean(path), fn: fn}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	if err := w.arm(e); err != nil {
		return nil, fmt.Errorf("fswatch: watch %s: %w", path, err)
	}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if e.dir != nil {
			w.unlink(e.dir, e.name, e)
			e.dir = nil
		}
		e.fn = nil
	}, nil
}

// Stats tells what the watcher holds now.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := Stats{Dirs: len(w.dirs), Watches: len(w.wds), ArmFails: w.armErr}
	for _, d := range w.dirs {
		s.Paths += d.n
	}
	return s
}

// target is the directory an entry wants to listen through: its parent ("/" for "/").
func target(p string) string { return filepath.Dir(p) }

// childName is the first component of p below directory d ("" when p is d).
func childName(d, p string) string {
	if p == d {
		return ""
	}
	rest := strings.TrimPrefix(p, d)
	rest = strings.TrimPrefix(rest, "/")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// arm attaches e to the deepest existing directory on the way to its target; it does
// not leave the directory e listened through before (see rearm). Called with mu held.
func (w *Watcher) arm(e *entry) error {
	want := target(e.path)
	d := want
	for {
		dd, err := w.watchDir(d)
		if err == nil {
			w.attach(e, dd, childName(d, e.path))
			break
		}
		if !missing(err) || d == "/" {
			return err
		}
		d = filepath.Dir(d)
	}
	// A directory below may have appeared before our watch on its parent began.
	for e.dir.path != want {
		next := filepath.Join(e.dir.path, e.name)
		dd, err := w.watchDir(next)
		if err != nil {
			break
		}
		old, oldName := e.dir, e.name
		w.attach(e, dd, childName(next, e.path))
		w.unlink(old, oldName, e)
	}
	return nil
}

// missing reports whether err means the directory is not there (yet).
func missing(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) ||
		errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EACCES)
}

// watchDir returns the watch of directory d, adding a kernel watch if needed.
func (w *Watcher) watchDir(d string) (*dir, error) {
	if dd, ok := w.dirs[d]; ok {
		return dd, nil
	}
	wd, err := unix.InotifyAddWatch(w.fd, d, dirMask)
	if err != nil {
		return nil, err
	}
	dd := &dir{path: d, wd: int32(wd), names: map[string]map[*entry]struct{}{}}
	w.dirs[d] = dd
	w.wds[dd.wd] = append(w.wds[dd.wd], dd)
	return dd, nil
}

func (w *Watcher) attach(e *entry, dd *dir, name string) {
	set := dd.names[name]
	if set == nil {
		set = map[*entry]struct{}{}
		dd.names[name] = set
	}
	if _, ok := set[e]; !ok {
		set[e] = struct{}{}
		dd.n++
	}
	e.dir, e.name = dd, name
}

// unlink removes e from dd's listeners of name and drops dd's watch when e was the
// last listener.
func (w *Watcher) unlink(dd *dir, name string, e *entry) {
	set := dd.names[name]
	delete(set, e)
	if len(set) == 0 {
		delete(dd.names, name)
	}
	dd.n--
	if dd.n == 0 {
		w.drop(dd, true)
	}
}

// drop forgets dd; rm says whether the kernel watch must be removed too (it is gone
// already after IN_IGNORED).
func (w *Watcher) drop(dd *dir, rm bool) {
	if w.dirs[dd.path] == dd {
		delete(w.dirs, dd.path)
	}
	list := w.wds[dd.wd]
	for i, x := range list {
		if x == dd {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) > 0 {
		w.wds[dd.wd] = list
		return
	}
	delete(w.wds, dd.wd)
	if rm {
		_, _ = unix.InotifyRmWatch(w.fd, uint32(dd.wd))
	}
}

// run reads events until the file is closed.
func (w *Watcher) run() {
	defer close(w.done)
	buf := make([]byte, 64*1024)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			return // closed
		}
		for _, fn := range w.dispatch(buf[:n]) {
			fn()
		}
	}
}

// dispatch handles one read's worth of events and returns the callbacks to run, each
// once, in the order first seen.
func (w *Watcher) dispatch(buf []byte) []func() {
	w.mu.Lock()
	defer w.mu.Unlock()
	var (
		seen = map[*entry]bool{}
		out  []func()
	)
	poke := func(e *entry) {
		if e.fn != nil && !seen[e] {
			seen[e] = true
			out = append(out, e.fn)
		}
	}
	for len(buf) >= unix.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(buf[0:4]))
		mask := binary.NativeEndian.Uint32(buf[4:8])
		nameLen := int(binary.NativeEndian.Uint32(buf[12:16]))
		end := unix.SizeofInotifyEvent + nameLen
		if end > len(buf) {
			break
		}
		name := strings.TrimRight(string(buf[unix.SizeofInotifyEvent:end]), "\x00")
		buf = buf[end:]
		w.event(wd, mask, name, poke)
	}
	return out
}

// event handles one event with mu held.
func (w *Watcher) event(wd int32, mask uint32, name string, poke func(*entry)) {
	if mask&unix.IN_Q_OVERFLOW != 0 {
		// Events were lost: everyone may have changed, and pending paths may now
		// exist further down.
		var pending []*entry
		for _, dd := range w.dirs {
			for _, set := range dd.names {
				for e := range set {
					poke(e)
					if dd.path != target(e.path) {
						pending = append(pending, e)
					}
				}
			}
		}
		w.rearm(pending)
		return
	}
	dirs := w.wds[wd]
	if len(dirs) == 0 {
		return // a watch we dropped already
	}
	if mask&goneMask != 0 {
		// The directory went away (or moved, and the watch would follow it to its
		// new name): listen again from the nearest ancestor that exists.
		var moved []*entry
		for _, dd := range append([]*dir(nil), dirs...) {
			for _, set := range dd.names {
				for e := range set {
					moved = append(moved, e)
				}
			}
			w.drop(dd, mask&unix.IN_IGNORED == 0)
		}
		for _, e := range moved {
			e.dir = nil // its directory is dropped already
			poke(e)
		}
		w.rearm(moved)
		return
	}
	var pending []*entry
	for _, dd := range dirs {
		for e := range dd.names[name] {
			poke(e)
			if mask&appearMask != 0 && dd.path != target(e.path) {
				pending = append(pending, e)
			}
		}
	}
	w.rearm(pending)
}

// rearm arms each entry again from its target downward, then leaves its old directory
// (in that order, so that a shared ancestor's watch is not dropped and re-added).
func (w *Watcher) rearm(list []*entry) {
	for _, e := range list {
		if e.fn == nil {
			continue // cancelled meanwhile
		}
		old, oldName := e.dir, e.name
		err := w.arm(e)
		switch {
		case err != nil:
			// Keep listening where it did, if that watch still stands.
			w.armErr++
			e.dir, e.name = nil, ""
			if old != nil && w.dirs[old.path] == old {
				e.dir, e.name = old, oldName
			}
		case old != nil && (e.dir != old || e.name != oldName):
			w.unlink(old, oldName, e)
		}
	}
}
