package filecache

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

func TestRecordAndTrust(t *testing.T) {
	dir := t.TempDir()
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
	c.Add(a, stamp(t, a), later(), "hello\n")
	c.Add(b, stamp(t, b), later(), "hello\n")
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
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := stamp(t, p)
	var proc unix.Stat_t
	if err := unix.Lstat("/proc/self/stat", &proc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		s       Stamp
		seen    time.Time
		content string
	}{
		{"changed just now", p, s, time.Now(), "x"},
		{"changed in the future", p, s, time.Now().Add(-time.Hour), "x"},
		{"content of another size", p, s, later(), "xy"},
		{"a file system that may not keep ctime (proc)", "/proc/self/stat", StampOf(&proc), later(), string(make([]byte, proc.Size))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t, filepath.Join(dir, "cache"))
			c.Add(tc.path, tc.s, tc.seen, tc.content)
			if len(c.added) != 0 {
				t.Fatal("recorded")
			}
		})
	}
}

func TestUntrustedFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cachePath := filepath.Join(dir, "cache")
	c := open(t, cachePath)
	c.Add(p, stamp(t, p), later(), "x")
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), good...)
	flipped[headerSize+3] ^= 1
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
	c.Add("/x", Stamp{}, later(), "")
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
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cachePath := filepath.Join(dir, "cache")
	c := open(t, cachePath)
	c.Add(p, stamp(t, p), later(), "x")
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	before := stamp(t, cachePath)
	c = open(t, cachePath)
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
	dir := t.TempDir()
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
