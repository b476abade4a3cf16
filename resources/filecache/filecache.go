package filecache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
)

// MinAge is how old a file's last change must be, when the file is examined, for
// an entry to be recorded: far more than a clock tick of the kernel's coarse clock
// (at most 10 ms), which file timestamps are taken from.
const MinAge = 2 * time.Second

// Stamp is what lstat says of a file that changes whenever its content does.
type Stamp struct {
	Dev, Ino           uint64
	Size, Mtime, Ctime int64 // the times in nanoseconds since the epoch
}

// StampOf is the Stamp of st.
func StampOf(st *unix.Stat_t) Stamp {
	return Stamp{Dev: st.Dev, Ino: st.Ino, Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
}

// The file: a header, entries, and the SHA-256 of both. The header is the magic,
// the boot ID of the system that wrote it, and the count of entries.
const (
	magic      = "MPFILES1"
	bootSize   = 36 // a UUID as /proc/sys/kernel/random/boot_id gives it
	headerSize = len(magic) + bootSize + 8
	entrySize  = 5*8 + sumSize
	sumSize    = 16 // of a SHA-256 of the content
)

type sum [sumSize]byte

func sumOf(content string) sum {
	// A view of the string's bytes, not a copy: Sum256 only reads them.
	d := sha256.Sum256(unsafe.Slice(unsafe.StringData(content), len(content)))
	return sum(d[:sumSize])
}

type entry struct {
	stamp Stamp
	sum   sum
}

func (e *entry) put(b []byte) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], e.stamp.Dev)
	le.PutUint64(b[8:], e.stamp.Ino)
	le.PutUint64(b[16:], uint64(e.stamp.Size))
	le.PutUint64(b[24:], uint64(e.stamp.Mtime))
	le.PutUint64(b[32:], uint64(e.stamp.Ctime))
	copy(b[40:], e.sum[:])
}

func get(b []byte) entry {
	le := binary.LittleEndian
	e := entry{stamp: Stamp{Dev: le.Uint64(b[0:]), Ino: le.Uint64(b[8:]), Size: int64(le.Uint64(b[16:])),
		Mtime: int64(le.Uint64(b[24:])), Ctime: int64(le.Uint64(b[32:]))}}
	copy(e.sum[:], b[40:])
	return e
}

// Cache is the entries read from a cache file, and those recorded since. Its
// methods may be called from many goroutines; a nil Cache holds nothing and
// records nothing.
type Cache struct {
	path string
	// old holds the entries of the file as they are in it; index finds them
	// by inode, and hits marks those a check relied on, which Save keeps.
	old   []byte
	index table
	hits  []atomic.Uint32

	mu    sync.Mutex
	added []entry

	// trusted and examined hold, by device number, whether its file system keeps
	// ctime: examined as Recordable found with a file's descriptor, trusted as
	// Holds found by path.
	trusted, examined sync.Map
	boot              string // this boot's ID; "" when it could not be read
	torn              bool   // the file could not be used: Save replaces it
}

// New returns an empty cache that Save writes to path.
func New(path string) *Cache { return &Cache{path: path, boot: bootID()} }

// bootID is this boot's ID, or "" if it cannot be read.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if id := strings.TrimSpace(string(b)); err == nil && len(id) == bootSize {
		return id
	}
	return ""
}

// Open is New and Load.
func Open(path string) (*Cache, error) {
	c := New(path)
	return c, c.Load()
}

// Load reads the cache file, before c is used. A file that is missing leaves
// the cache empty; one that cannot be trusted (torn, another format, writable by
// others) leaves it empty with an error that says why, which callers log and go
// on: every file is then read.
func (c *Cache) Load() error {
	if c == nil {
		return nil
	}
	if c.boot == "" {
		return errors.New("no boot ID in /proc/sys/kernel/random/boot_id: the file cache is not used")
	}
	b, err := readOwn(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	n, err := check(b)
	if err == nil && string(b[len(magic):len(magic)+bootSize]) != c.boot {
		// A crash may have left a file's new ctime on disk without its new
		// data, and device numbers are given anew at each boot.
		err = errors.New("written before the system last booted")
	}
	if err != nil {
		c.torn = true
		return fmt.Errorf("%s: %w: ignored, every file is read", c.path, err)
	}
	c.old = b[headerSize : headerSize+n*entrySize]
	c.index = newTable(n)
	for i := range n {
		c.index.put(c.old[i*entrySize:], int32(i))
	}
	c.hits = make([]atomic.Uint32, (n+31)/32)
	return nil
}

// readOwn reads the file at path if it belongs to this process's user and no
// one else may write it.
func readOwn(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err
	}
	if st.Uid != uint32(os.Geteuid()) || st.Mode&0o022 != 0 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s: not a regular file of uid %d that only it may write: ignored, every file is read", path, os.Geteuid())
	}
	return io.ReadAll(f)
}

// check validates a cache file's bytes and returns how many entries it holds.
func check(b []byte) (int, error) {
	if len(b) < headerSize+sha256.Size || string(b[:len(magic)]) != magic {
		return 0, errors.New("not a cache file of this version")
	}
	n := binary.LittleEndian.Uint64(b[len(magic)+bootSize:])
	if n > uint64(len(b)) || uint64(len(b)) != uint64(headerSize)+n*entrySize+sha256.Size {
		return 0, errors.New("torn: its length does not match its count of entries")
	}
	body := b[:len(b)-sha256.Size]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], b[len(body):]) {
		return 0, errors.New("torn: its checksum does not match")
	}
	return int(n), nil
}

// Holds reports whether the file at path, which lstat found in state s, was
// recorded to hold content.
func (c *Cache) Holds(path string, s Stamp, content string) bool {
	if c == nil || c.old == nil || s.Size != int64(len(content)) {
		return false
	}
	i, ok := c.index.get(c.old, s.Dev, s.Ino)
	if !ok {
		return false
	}
	e := get(c.old[int(i)*entrySize:])
	if e.stamp != s || e.sum != sumOf(content) || !c.trusts(path, s.Dev) {
		return false
	}
	c.hits[i/32].Or(1 << (i % 32))
	return true
}

// Recordable says whether the file opened as fd, which lstat found in state s
// at seen (a time taken before the lstat), may be recorded by Add once it is read.
// Call it after opening the file and before reading it. It may not be recorded
// when
//   - it changed less than MinAge before seen;
//   - fd is not the file lstat found (the path changed in between);
//   - its file system may not keep ctime;
//   - some process has it open for writing, or mapped shared and writable (a
//     read lease cannot be taken): a write sets ctime when it begins, and one
//     that began earlier may still be copying its bytes.
//
// A write that begins later sets a later ctime, which no entry matches.
func (c *Cache) Recordable(fd int, s Stamp, seen time.Time) bool {
	if c == nil || c.boot == "" || s.Ctime > seen.UnixNano()-int64(MinAge) {
		return false
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || StampOf(&st) != s || !c.examines(fd, s.Dev) {
		return false
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK); err != nil {
		return false
	}
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
	return err == nil
}

// Add records that the file found in state s, which Recordable allowed, was
// read to hold content.
func (c *Cache) Add(s Stamp, content string) {
	if c == nil || s.Size != int64(len(content)) {
		return
	}
	e := entry{stamp: s, sum: sumOf(content)}
	c.mu.Lock()
	c.added = append(c.added, e)
	c.mu.Unlock()
}

// Trusted file systems: those that set ctime on every change, to the nanosecond.
var trustedFS = map[int64]bool{
	unix.EXT4_SUPER_MAGIC:  true, // ext2, ext3 and ext4
	unix.XFS_SUPER_MAGIC:   true,
	unix.BTRFS_SUPER_MAGIC: true,
	unix.TMPFS_MAGIC:       true,
	unix.F2FS_SUPER_MAGIC:  true,
	0x2fc12fc1:             true, // ZFS
}

// Trusted reports whether the file system that path is on keeps ctime as
// entries need: files elsewhere are always read.
func Trusted(path string) bool {
	return keeps(func(st *unix.Statfs_t) error { return unix.Statfs(path, st) })
}

// keeps says whether the file system statfs describes keeps ctime as entries
// need.
func keeps(statfs func(*unix.Statfs_t) error) bool {
	var st unix.Statfs_t
	return statfs(&st) == nil && trustedFS[int64(st.Type)]
}

// trusts says whether the file system of device dev, which path is on, keeps
// ctime as entries need.
func (c *Cache) trusts(path string, dev uint64) bool {
	return perDevice(&c.trusted, dev, func() bool { return Trusted(path) })
}

// examines is trusts for the file open as fd, on device dev.
func (c *Cache) examines(fd int, dev uint64) bool {
	return perDevice(&c.examined, dev, func() bool {
		return keeps(func(st *unix.Statfs_t) error { return unix.Fstatfs(fd, st) })
	})
}

// perDevice is the answer m holds for device dev, or that of ask, then kept.
func perDevice(m *sync.Map, dev uint64, ask func() bool) bool {
	if ok, known := m.Load(dev); known {
		return ok.(bool)
	}
	ok := ask()
	m.Store(dev, ok)
	return ok
}

// Stats counts the files trusted unread since Load, and those recorded.
func (c *Cache) Stats() (trusted, recorded int) {
	if c == nil {
		return 0, 0
	}
	for i := range c.hits {
		trusted += bits.OnesCount32(c.hits[i].Load())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return trusted, len(c.added)
}

// Save writes the entries this run relied on or recorded, and no other, to the
// cache file, replaced as atomicfile replaces a file. It writes nothing when
// that is what the file holds already (or holds nothing, and there is none).
func (c *Cache) Save() error {
	if c == nil {
		return nil
	}
	if c.boot == "" {
		return nil // Load used nothing either
	}
	kept, _ := c.Stats()
	c.mu.Lock()
	added := c.added
	c.mu.Unlock()
	n := len(c.old) / entrySize
	if len(added) == 0 && kept == n && !c.torn {
		return nil
	}
	// Entries by inode, a later one replacing an earlier: hits first, then what
	// was recorded in the order it was.
	out := make([]byte, headerSize, headerSize+(kept+len(added))*entrySize+sha256.Size)
	copy(out, magic)
	copy(out[len(magic):], c.boot)
	index := newTable(kept + len(added))
	count := 0
	place := func(rec []byte) {
		if i, ok := index.get(out[headerSize:], binary.LittleEndian.Uint64(rec), binary.LittleEndian.Uint64(rec[8:])); ok {
			copy(out[headerSize+int(i)*entrySize:], rec)
			return
		}
		out = append(out, rec...)
		index.put(out[headerSize+count*entrySize:], int32(count))
		count++
	}
	for i := range n {
		if c.hits[i/32].Load()&(1<<(i%32)) != 0 {
			place(c.old[i*entrySize : (i+1)*entrySize])
		}
	}
	var rec [entrySize]byte
	for i := range added {
		added[i].put(rec[:])
		place(rec[:])
	}
	binary.LittleEndian.PutUint64(out[len(magic)+bootSize:], uint64(count))
	s := sha256.Sum256(out)
	out = append(out, s[:]...)
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(c.path, string(out), atomicfile.Options{Mode: 0o600, UID: -1, GID: -1})
}

// table is an open-addressing index of entries by inode: slot values are an
// entry's number plus one, 0 is empty.
type table []int32

func newTable(n int) table {
	size := 16
	for size < 2*n {
		size *= 2
	}
	return make(table, size)
}

func (t table) slot(dev, ino uint64) int {
	h := (ino ^ dev*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	return int(h>>32) & (len(t) - 1)
}

// get finds the entry of inode dev/ino among entries.
func (t table) get(entries []byte, dev, ino uint64) (int32, bool) {
	if len(t) == 0 {
		return 0, false
	}
	le := binary.LittleEndian
	for s := t.slot(dev, ino); ; s = (s + 1) & (len(t) - 1) {
		v := t[s]
		if v == 0 {
			return 0, false
		}
		rec := entries[int(v-1)*entrySize:]
		if le.Uint64(rec) == dev && le.Uint64(rec[8:]) == ino {
			return v - 1, true
		}
	}
}

// put indexes entry i, whose bytes begin rec; its inode must not be indexed yet.
func (t table) put(rec []byte, i int32) {
	le := binary.LittleEndian
	dev, ino := le.Uint64(rec), le.Uint64(rec[8:])
	s := t.slot(dev, ino)
	for t[s] != 0 {
		s = (s + 1) & (len(t) - 1)
	}
	t[s] = i + 1
}
