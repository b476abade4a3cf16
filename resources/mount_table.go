package resources

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// mountinfoPath is the mount table of the process's mount namespace. Besides its
// text, the kernel flags it with POLLPRI whenever a mount or an unmount changes
// the table, which is how mounts are watched without polling.
const mountinfoPath = "/proc/self/mountinfo"

// readMountTable returns the mount points of a mountinfo file (field 5, with the
// kernel's octal escapes undone), as Puppet's provider finds them in the output of
// `mount`.
func readMountTable(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("could not read the mount table: %w", err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		out[unescapeMountinfo(fields[4])] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("could not read the mount table: %w", err)
	}
	return out, nil
}

// unescapeMountinfo undoes the kernel's \ooo escapes (space, tab, newline, backslash).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// tableWatch pokes its subscribers whenever the mount table changes. One goroutine,
// blocked in epoll_wait on the mountinfo file (EPOLLPRI) and an eventfd that stops
// it, serves every Mount; it runs while there is at least one subscriber.
type tableWatch struct {
	path string
	mu   sync.Mutex
	subs map[int]func()
	next int
	stop func()
}

var mountTable = &tableWatch{path: mountinfoPath}

// add subscribes poke and returns its cancel, which may be called more than once.
func (w *tableWatch) add(poke func()) (func(), error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.subs) == 0 {
		stop, err := watchPri(w.path, w.notify)
		if err != nil {
			return nil, err
		}
		w.stop = stop
		w.subs = map[int]func(){}
	}
	id := w.next
	w.next++
	w.subs[id] = poke
	return sync.OnceFunc(func() { w.remove(id) }), nil
}

func (w *tableWatch) remove(id int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.subs[id]; !ok {
		return
	}
	delete(w.subs, id)
	if len(w.subs) == 0 {
		w.stop()
		w.stop = nil
	}
}

func (w *tableWatch) notify() {
	w.mu.Lock()
	pokes := make([]func(), 0, len(w.subs))
	for _, p := range w.subs {
		pokes = append(pokes, p)
	}
	w.mu.Unlock()
	for _, p := range pokes {
		p()
	}
}

// watchPri calls notify each time path reports EPOLLPRI, until stop, which waits
// for the goroutine's end.
func watchPri(path string, notify func()) (stop func(), err error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		unix.Close(ep)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	closeAll := func() {
		unix.Close(fd)
		unix.Close(ep)
		unix.Close(efd)
	}
	if err := errors.Join(
		unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLPRI, Fd: int32(fd)}),
		unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}),
	); err != nil {
		closeAll()
		return nil, fmt.Errorf("epoll_ctl %s: %w", path, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer closeAll()
		events := make([]unix.EpollEvent, 2)
		for {
			n, err := unix.EpollWait(ep, events, -1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return
			}
			changed := false
			for _, e := range events[:n] {
				if e.Fd == int32(efd) {
					return
				}
				changed = true
			}
			if changed {
				notify()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			var one [8]byte
			binary.NativeEndian.PutUint64(one[:], 1)
			_, _ = unix.Write(efd, one[:])
			<-done
		})
	}, nil
}
