package resources

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
	"github.com/mgmt-puppet/mgmt-puppet/resources/filecache"
)

// TestFileCache runs Files with a file cache as three runs would: the first reads
// every file and remembers those in sync and old enough; the second trusts them
// unread; a file changed in place, to content of the same size, is read again and
// repaired, and one replaced by another inode too.
func TestFileCache(t *testing.T) {
	dir := t.TempDir()
	if !filecache.Trusted(dir) {
		testenv.Missing(t, "%s is on a file system the file cache does not trust: its files are always read", dir)
	}
	cachePath := filepath.Join(dir, "cache", "files.cache")
	want := "managed content\n"
	names := []string{"kept", "edited", "replaced", "wrong"}
	for _, n := range names {
		content := want
		if n == "wrong" {
			content = "other content!!\n" // the same size
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(filecache.MinAge + 100*time.Millisecond) // so that the files may be remembered

	// run checks every file with a cache from cachePath, and saves it.
	run := func(apply bool) (inSync map[string]bool, trusted, recorded int) {
		t.Helper()
		c, err := filecache.Open(cachePath)
		if err != nil {
			t.Fatal(err)
		}
		inSync = map[string]bool{}
		for _, n := range names {
			f := &File{Path: filepath.Join(dir, n), Ensure: "file", Content: &want, Replace: true}
			f.SetFileCache(c)
			f.Init(newFileHandle())
			ok, err := f.CheckApply(context.Background(), apply)
			if err != nil {
				t.Fatalf("%s: %v", n, err)
			}
			inSync[n] = ok
		}
		trusted, recorded = c.Stats()
		if err := c.Save(); err != nil {
			t.Fatal(err)
		}
		return inSync, trusted, recorded
	}

	inSync, trusted, recorded := run(false)
	if inSync["wrong"] || !inSync["kept"] || !inSync["edited"] || !inSync["replaced"] {
		t.Fatalf("first run: in sync %v", inSync)
	}
	if trusted != 0 || recorded != 3 {
		t.Fatalf("first run: %d trusted, %d recorded; want 0 and 3 (wrong is not remembered)", trusted, recorded)
	}
	inSync, trusted, recorded = run(false)
	if inSync["wrong"] || !inSync["kept"] || trusted != 3 || recorded != 0 {
		t.Fatalf("second run: in sync %v, %d trusted, %d recorded; want 3 and 0", inSync, trusted, recorded)
	}

	// Drift that keeps the size: in place, and as a new inode.
	if err := os.WriteFile(filepath.Join(dir, "edited"), []byte("MANAGED CONTENT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "new")
	if err := os.WriteFile(tmp, []byte("Managed content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "replaced")); err != nil {
		t.Fatal(err)
	}
	inSync, trusted, _ = run(true)
	if !inSync["kept"] || inSync["edited"] || inSync["replaced"] || inSync["wrong"] || trusted != 1 {
		t.Fatalf("after drift: in sync %v, %d trusted; want only kept, trusted", inSync, trusted)
	}
	for _, n := range names {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err != nil || string(b) != want {
			t.Errorf("%s holds %q, %v after the repair", n, b, err)
		}
	}
}
