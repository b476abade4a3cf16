package writers

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Writer is a process seen writing.
type Writer struct {
	PID     int
	Command string // its command line, or its name when that is gone
	Writes  int    // events seen: the kernel merges a process's repeated writes between reads
	// Exact: it wrote the file itself; otherwise another file in its directory (a
	// temporary file renamed over it, as editors and sed -i do).
	Exact bool
}

func (w Writer) String() string {
	where := "it"
	if !w.Exact {
		where = "files in its directory"
	}
	return fmt.Sprintf("pid %d (%s) wrote %s", w.PID, w.Command, where)
}

// readEvery is how often Watch reads the events queued.
const readEvery = 200 * time.Millisecond

// Watch watches the directory of path for up to d, or until ctx ends, and returns
// the processes other than this one that wrote path or, failing those, that wrote
// other files in its directory: the most active first.
func Watch(ctx context.Context, path string, d time.Duration) ([]Writer, error) {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify: %w", err)
	}
	defer unix.Close(fd)
	dir := filepath.Dir(path)
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD, unix.FAN_MODIFY|unix.FAN_CLOSE_WRITE|unix.FAN_EVENT_ON_CHILD,
		unix.AT_FDCWD, dir); err != nil {
		return nil, fmt.Errorf("fanotify %s: %w", dir, err)
	}
	seen := map[[2]int]*Writer{} // pid, exact
	self := os.Getpid()
	deadline := time.Now().Add(d)
	buf := make([]byte, 64<<10)
	for first := true; ctx.Err() == nil && time.Now().Before(deadline); first = false {
		// Reading a few times a second, not at every event, lets the kernel merge
		// a writer's repeated events: watching a tight loop costs little.
		if !first {
			select {
			case <-ctx.Done():
			case <-time.After(readEvery):
			}
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, 100); err != nil && err != unix.EINTR {
			return nil, fmt.Errorf("fanotify: %w", err)
		}
		n, err := unix.Read(fd, buf)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("fanotify: %w", err)
		}
		for b := buf[:n]; len(b) >= int(unsafe.Sizeof(unix.FanotifyEventMetadata{})); {
			m := decode(b)
			if m.Event_len == 0 || int(m.Event_len) > len(b) {
				break
			}
			b = b[m.Event_len:]
			if m.Fd < 0 {
				continue
			}
			name, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(m.Fd)))
			unix.Close(int(m.Fd))
			pid := int(m.Pid)
			if pid == self {
				continue
			}
			key := [2]int{pid, 0}
			if name == path {
				key[1] = 1
			}
			w := seen[key]
			if w == nil {
				w = &Writer{PID: pid, Command: command(pid), Exact: key[1] == 1}
				seen[key] = w
			}
			w.Writes++
		}
	}
	var exact, near []Writer
	for _, w := range seen {
		if w.Exact {
			exact = append(exact, *w)
		} else {
			near = append(near, *w)
		}
	}
	out := exact
	if len(out) == 0 {
		out = near
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Writes != out[j].Writes {
			return out[i].Writes > out[j].Writes
		}
		return out[i].PID < out[j].PID
	})
	return out, nil
}

func decode(b []byte) unix.FanotifyEventMetadata {
	return unix.FanotifyEventMetadata{
		Event_len:    binary.NativeEndian.Uint32(b[0:]),
		Vers:         b[4],
		Metadata_len: binary.NativeEndian.Uint16(b[6:]),
		Mask:         binary.NativeEndian.Uint64(b[8:]),
		Fd:           int32(binary.NativeEndian.Uint32(b[16:])),
		Pid:          int32(binary.NativeEndian.Uint32(b[20:])),
	}
}

// command is pid's command line, shortened, or its name.
func command(pid int) string {
	p := "/proc/" + strconv.Itoa(pid)
	if b, err := os.ReadFile(p + "/cmdline"); err == nil && len(b) > 0 {
		s := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		if len(s) > 80 {
			s = s[:77] + "..."
		}
		return s
	}
	if b, err := os.ReadFile(p + "/comm"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "gone"
}
