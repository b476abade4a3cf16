package filecache

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

func stamp(t *testing.T, path string) Stamp {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return StampOf(&st)
}

func open(t *testing.T, path string) *Cache {
	t.Helper()
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// later is a time at which a file changed now is old enough to record.
func later() time.Time { return time.Now().Add(MinAge + time.Second) }

// record examines the file at path as a check would when seen (before lstat),
// and adds it with content if Recordable allows; it reports whether it did.
func record(t *testing.T, c *Cache, path string, seen time.Time, content string) bool {
	t.Helper()
	s := stamp(t, path)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if !c.Recordable(fd, s, seen) {
		return false
	}
	c.Add(s, content)
	return true
}

// trustedDir is a temporary directory on a file system the cache trusts, or
// the test is skipped (overlayfs, as in some containers).
func trustedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if !Trusted(dir) {
		testenv.Missing(t, "%s is on a file system the cache does not trust: its files are always read", dir)
	}
	return dir
}

func TestRecordAndTrust(t *testing.T) {
	dir := trustedDir(t)
	cachePath := filepath.Join(dir, "state", "files.cache")
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte("hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := open(t, cachePath)
	if c.Holds(a, stamp(t, a), "hello\n") {
		t.Fatal("an empty cache holds a")
	}
	if !record(t, c, a, later(), "hello\n") || !record(t, c, b, later(), "hello\n") {
		t.Fatal("not recordable")
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(cachePath); err != nil || st.Mode().Perm()&0o022 != 0 {
		t.Fatalf("cache file: %v, %v", st, err)
	}

	c = open(t, cachePath)
	tests := []struct {
		name    string
		path    string
		content string
		holds   bool
	}{
		{"recorded", a, "hello\n", true},
		{"other content of the same size", a, "HELLO\n", false},
		{"other size", a, "hello", false},
	}
	for _, tc := range tests {
		if got := c.Holds(tc.path, stamp(t, tc.path), tc.content); got != tc.holds {
			t.Errorf("%s: Holds = %v, want %v", tc.name, got, tc.holds)
		}
	}
	// Rewritten with the same size: ctime moves, the entry no longer matches.
	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(b, []byte("HELLO\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c.Holds(b, stamp(t, b), "hello\n") {
		t.Error("b rewritten in place is still held to be hello")
	}
	// Only a was relied on: Save keeps it alone.
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c = open(t, cachePath)
	if !c.Holds(a, stamp(t, a), "hello\n") {
		t.Error("a lost by a Save that relied on it")
	}
	if n := len(c.old) / entrySize; n != 1 {
		t.Errorf("%d entries saved, want 1 (b was not relied on)", n)
	}
}

func TestNotRecorded(t *testing.T) {
	dir := trustedDir(t)
	p, other := filepath.Join(dir, "f"), filepath.Join(dir, "other")
	for _, f := range []string{p, other} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := stamp(t, p)
	changed := time.Unix(0, s.Ctime)
	tests := []struct {
		name       string
		path       string
		s          Stamp
		seen       time.Time
		recordable bool
		setup      func(t *testing.T) // before the examination
	}{
		{"old enough, at MinAge exactly", p, s, changed.Add(MinAge), true, nil},
		{"changed 1 ns less than MinAge before", p, s, changed.Add(MinAge - 1), false, nil},
		{"changed in the future", p, s, time.Now().Add(-time.Hour), false, nil},
		{"another file than lstat found", p, stamp(t, other), later(), false, nil},
		{"a file system that may not keep ctime (proc)", "/proc/self/stat", Stamp{}, later(), false, nil},
		{"open for writing elsewhere", p, s, later(), false, func(t *testing.T) {
			w, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Close() })
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			c := open(t, filepath.Join(dir, "cache"))
			fd, err := unix.Open(tc.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			s := tc.s
			if s == (Stamp{}) {
				var st unix.Stat_t
				if err := unix.Fstat(fd, &st); err != nil {
					t.Fatal(err)
				}
				s = StampOf(&st)
			}
			if got := c.Recordable(fd, s, tc.seen); got != tc.recordable {
				t.Errorf("Recordable = %v, want %v", got, tc.recordable)
			}
		})
	}
	c := open(t, filepath.Join(dir, "cache"))
	c.Add(s, "xy")
	if len(c.added) != 0 {
		t.Error("content of another size than the file recorded")
	}
}

// savedOne saves a cache file that holds file p, recorded to hold "x".
func savedOne(t *testing.T) (p, cachePath string) {
	t.Helper()
	dir := trustedDir(t)
	p = filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cachePath = filepath.Join(dir, "cache")
	c := open(t, cachePath)
	if !record(t, c, p, later(), "x") {
		t.Fatal("not recordable")
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	return p, cachePath
}

func TestUntrustedFile(t *testing.T) {
	p, cachePath := savedOne(t)
	good, err := os.ReadFile(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), good...)
	flipped[headerSize+3] ^= 1
	// Written in another boot: the same entries, a good checksum.
	reboot := append([]byte(nil), good[:len(good)-sha256.Size]...)
	copy(reboot[len(magic):], "00000000-0000-4000-8000-000000000000")
	sum := sha256.Sum256(reboot)
	reboot = append(reboot, sum[:]...)
	tests := []struct {
		name string
		b    []byte
		mode os.FileMode
	}{
		{"torn", good[:len(good)-5], 0o600},
		{"a byte changed", flipped, 0o600},
		{"empty", nil, 0o600},
		{"writable by its group", good, 0o620},
		{"another format", append([]byte("MPFILES0"), good[8:]...), 0o600},
		{"written before the last boot", reboot, 0o600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(cachePath, tc.b, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(cachePath, tc.mode); err != nil {
				t.Fatal(err)
			}
			c, err := Open(cachePath)
			if err == nil {
				t.Error("no error")
			}
			if c == nil || c.Holds(p, stamp(t, p), "x") {
				t.Error("the file's entries are used")
			}
		})
	}
	if err := os.WriteFile(cachePath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if !open(t, cachePath).Holds(p, stamp(t, p), "x") {
		t.Error("the good file is not used")
	}
}

func TestNil(t *testing.T) {
	var c *Cache
	if c.Recordable(0, Stamp{}, later()) {
		t.Error("a nil cache records")
	}
	c.Add(Stamp{}, "")
	if c.Holds("/x", Stamp{}, "") {
		t.Error("a nil cache holds something")
	}
	if err := c.Save(); err != nil {
		t.Error(err)
	}
}

// TestSaveUnchanged checks that a run that relied on every entry and recorded
// nothing leaves the file alone.
func TestSaveUnchanged(t *testing.T) {
	p, cachePath := savedOne(t)
	before := stamp(t, cachePath)
	c := open(t, cachePath)
	if !c.Holds(p, stamp(t, p), "x") {
		t.Fatal("not held")
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if after := stamp(t, cachePath); after != before {
		t.Error("the cache file was rewritten")
	}
}

// TestMany checks the index with more entries than one table size, some added
// twice.
func TestMany(t *testing.T) {
	dir := trustedDir(t)
	cachePath := filepath.Join(dir, "cache")
	c := open(t, cachePath)
	stamps := make([]Stamp, 3000)
	for i := range stamps {
		stamps[i] = Stamp{Dev: uint64(i % 3), Ino: uint64(i / 3), Size: 1, Ctime: 1}
		c.added = append(c.added, entry{stamp: stamps[i], sum: sumOf("x")})
	}
	c.added = append(c.added, entry{stamp: stamps[7], sum: sumOf("y")})
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c = open(t, cachePath)
	c.trusted.Store(uint64(0), true)
	c.trusted.Store(uint64(1), true)
	c.trusted.Store(uint64(2), true)
	if n := len(c.old) / entrySize; n != len(stamps) {
		t.Fatalf("%d entries, want %d", n, len(stamps))
	}
	for i, s := range stamps {
		want := "x"
		if i == 7 {
			want = "y"
		}
		if !c.Holds("/", s, want) {
			t.Fatalf("entry %d (%+v) not held", i, s)
		}
	}
}

// TestConcurrent records and trusts files from many goroutines at once, as a
// run's workers do (run it with -race).
func TestConcurrent(t *testing.T) {
	dir := trustedDir(t)
	cachePath := filepath.Join(dir, "cache")
	paths := make([]string, 64)
	for i := range paths {
		paths[i] = filepath.Join(dir, "f"+strconv.Itoa(i))
		if err := os.WriteFile(paths[i], []byte("content "+strconv.Itoa(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	each := func(f func(i int, p string)) {
		var wg sync.WaitGroup
		for i, p := range paths {
			wg.Go(func() { f(i, p) })
		}
		wg.Wait()
	}
	c := open(t, cachePath)
	seen := later()
	each(func(i int, p string) {
		if !record(t, c, p, seen, "content "+strconv.Itoa(i)) {
			t.Errorf("%s not recordable", p)
		}
	})
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c = open(t, cachePath)
	each(func(i int, p string) {
		if !c.Holds(p, stamp(t, p), "content "+strconv.Itoa(i)) {
			t.Errorf("%s not held", p)
		}
	})
	if trusted, recorded := c.Stats(); trusted != len(paths) || recorded != 0 {
		t.Errorf("Stats = %d, %d; want %d, 0", trusted, recorded, len(paths))
	}
}
