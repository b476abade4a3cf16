package resources

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// treeWatch follows every directory a recursing File manages, and those of its
// source, with an inotify instance of its own: the shared watcher (fswatch) follows
// paths by name, while recursion must also hear of names nobody knows yet (a stray
// file appearing in a purged directory). Any event in a watched directory pokes.
type treeWatch struct {
	mu   sync.Mutex // f and wds: the context's end closes from another goroutine
	fd   int
	f    *os.File
	wds  map[string]int // directory → its kernel watch
	poke func()
	done chan struct{}
	stop func() bool
}

// treeMask is what a watched directory reports: any child appearing, going,
// written or changing mode or owner, and the directory's own end.
const treeMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_ATTRIB |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// watchTree starts the tree watch of a recursing File until ctx ends or Close.
func (f *File) watchTree(ctx context.Context) error {
	if f.Recurse == "" {
		return nil
	}
	x := f.extra()
	if x.tree == nil {
		x.tree = &treeWatch{}
	}
	if err := x.tree.start(ctx, f.h.Poke); err != nil {
		return err
	}
	if len(f.Source) > 0 {
		// sourceDir is known only after a check; a missing source is an error
		// that the checks report.
		if p, info, err := f.findSource(); err == nil && info.IsDir() {
			x.sourceDir = p
		}
	}
	_, dirs := f.children()
	x.tree.set(dirs)
	return nil
}

func (w *treeWatch) start(ctx context.Context, poke func()) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		return nil
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return &os.SyscallError{Syscall: "inotify_init1", Err: err}
	}
	w.fd, w.f, w.poke = fd, os.NewFile(uintptr(fd), "inotify"), poke
	w.wds = map[string]int{}
	w.done = make(chan struct{})
	go w.run()
	w.stop = context.AfterFunc(ctx, w.close)
	return nil
}

// watching reports whether the watch runs.
func (w *treeWatch) watching() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f != nil
}

// set makes dirs the watched directories. A directory newly watched pokes once: a
// child may have appeared in it before its watch began.
func (w *treeWatch) set(dirs []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return
	}
	next := make(map[string]int, len(dirs))
	added := false
	for _, d := range dirs {
		if _, done := next[d]; done {
			continue
		}
		wd, err := unix.InotifyAddWatch(w.fd, d, treeMask)
		if err != nil {
			continue // gone meanwhile; its parent's watch tells when it is back
		}
		if old, ok := w.wds[d]; !ok || old != wd {
			added = true
		}
		next[d] = wd
	}
	for d, wd := range w.wds {
		if _, keep := next[d]; !keep && !wdUsed(next, wd) {
			_, _ = unix.InotifyRmWatch(w.fd, uint32(wd))
		}
	}
	w.wds = next
	if added {
		w.poke()
	}
}

// wdUsed reports whether a kernel watch still serves a directory of m (two paths
// may name one directory).
func wdUsed(m map[string]int, wd int) bool {
	for _, x := range m {
		if x == wd {
			return true
		}
	}
	return false
}

// run pokes for every read of events until the inotify file is closed.
func (w *treeWatch) run() {
	defer close(w.done)
	buf := make([]byte, 16*1024)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			return // closed
		}
		if onlyIgnored(buf[:n]) {
			continue // watches we removed
		}
		w.poke()
	}
}

// onlyIgnored reports whether a read holds nothing but IN_IGNORED events.
func onlyIgnored(buf []byte) bool {
	for len(buf) >= unix.SizeofInotifyEvent {
		mask := binary.NativeEndian.Uint32(buf[4:8])
		nameLen := int(binary.NativeEndian.Uint32(buf[12:16]))
		if mask&unix.IN_IGNORED == 0 || unix.SizeofInotifyEvent+nameLen > len(buf) {
			return false
		}
		buf = buf[unix.SizeofInotifyEvent+nameLen:]
	}
	return true
}

// close stops the watch and waits for its reader.
func (w *treeWatch) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return
	}
	if w.stop != nil {
		w.stop()
	}
	_ = w.f.Close()
	<-w.done
	w.f, w.wds = nil, nil
}
