package atomicfile

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Durability: a new file's data must be on disk before it gets a name, so that a
// crash leaves the old file or the new one. One fsync per file makes the disk flush
// its cache once per file; writers that are ready together can share one flush
// instead (group commit, as databases commit transactions): the first to arrive
// leads, and every writer whose file was complete before the leader's flush started
// returns when it ends. Writers arriving meanwhile wait for the next one. A leader
// alone in its batch (a single repair) fsyncs its own file; a batch of several
// calls syncfs on the file system once, which also writes out whatever else is
// dirty there (FlushFsync avoids that on a server busy writing).

// Flush names how new files are made durable.
type Flush int

const (
	// FlushFsync: each file is fsynced on its own (many at once still share the
	// journal's commits).
	FlushFsync Flush = iota
	// FlushGroup: files complete at the same time share one syncfs.
	FlushGroup
)

// flushMode is how Write makes files durable; set it with SetFlush.
var flushMode = FlushGroup

// SetFlush chooses how Write makes new files durable, for the whole process (the
// benchmarks compare both).
func SetFlush(f Flush) { flushMode = f }

// devUnknown stands for a device number not known yet.
const devUnknown = ^uint64(0)

// durable makes the complete file fd, on the device dev (devUnknown: to be looked
// up), durable.
func durable(fd int, dev uint64) error {
	if flushMode == FlushFsync {
		return unix.Fsync(fd)
	}
	if dev == devUnknown {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		dev = st.Dev
	}
	return groupFor(dev).sync(func(n int) error {
		if n == 1 {
			return unix.Fsync(fd)
		}
		return unix.Syncfs(fd)
	})
}

// groups holds a group per file system (device number).
var groups sync.Map

func groupFor(dev uint64) *group {
	if g, ok := groups.Load(dev); ok {
		return g.(*group)
	}
	g, _ := groups.LoadOrStore(dev, newGroup())
	return g.(*group)
}

// group commits the writers of one file system together.
type group struct {
	mu      sync.Mutex
	cond    *sync.Cond
	next    *batch // the writers waiting for the next flush
	running bool   // a flush is in progress
}

// batch is the writers one flush covers.
type batch struct {
	n       int // writers in it
	flushed bool
	err     error
}

func newGroup() *group {
	g := &group{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// sync returns once a flush that started after the call did has ended: the caller's
// own, when no flush is in progress, or one a later caller of its batch leads.
// flush is told how many writers its batch holds.
func (g *group) sync(flush func(n int) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next == nil {
		g.next = &batch{}
	}
	b := g.next
	b.n++
	for g.running && !b.flushed {
		g.cond.Wait()
	}
	if b.flushed {
		return b.err
	}
	// Lead: the flush covers every writer of b, all complete before it starts.
	g.running, g.next = true, nil
	g.mu.Unlock()
	err := flush(b.n)
	g.mu.Lock()
	b.flushed, b.err = true, err
	g.running = false
	g.cond.Broadcast()
	return err
}
