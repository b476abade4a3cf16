package resources

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
)

// A File's directory swapped for a symlink between the check and the change: the
// change is refused, nothing is written through the symlink, and the next check
// follows the symlink as Puppet does.
func TestFileDirSwappedAfterCheck(t *testing.T) {
	cases := []struct {
		name string
		file func(path string) *File
		old  bool // the path exists before, in the real directory and elsewhere
	}{
		{"create", func(p string) *File { c := "new\n"; return &File{Path: p, Ensure: "file", Content: &c, Replace: true} }, false},
		{"content", func(p string) *File { c := "new\n"; return &File{Path: p, Ensure: "file", Content: &c, Replace: true} }, true},
		{"mode", func(p string) *File { return &File{Path: p, Ensure: "file", Mode: "0640", Replace: true} }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dir, elsewhere := filepath.Join(root, "conf"), filepath.Join(root, "elsewhere")
			os.Mkdir(dir, 0o755)
			os.Mkdir(elsewhere, 0o755)
			path := filepath.Join(dir, "f")
			if c.old {
				os.WriteFile(path, []byte("old\n"), 0o644)
				os.WriteFile(filepath.Join(elsewhere, "f"), []byte("other\n"), 0o600)
			}
			testHookChecked = func(string) {
				testHookChecked = nil
				if err := os.Rename(dir, dir+".old"); err != nil {
					t.Error(err)
				}
				if err := os.Symlink(elsewhere, dir); err != nil {
					t.Error(err)
				}
			}
			t.Cleanup(func() { testHookChecked = nil })
			f := c.file(path)
			f.Init(newFileHandle())
			_, err := f.CheckApply(context.Background(), true)
			if err == nil {
				t.Fatal("no error for a directory swapped after the check")
			}
			if !errors.Is(err, atomicfile.ErrDirChanged) {
				t.Errorf("error %v, want ErrDirChanged", err)
			}
			var st unix.Stat_t
			switch err := unix.Lstat(filepath.Join(elsewhere, "f"), &st); {
			case !c.old && err == nil:
				t.Fatal("created through the symlink after a check of the real directory")
			case c.old && (err != nil || st.Mode&0o777 != 0o600):
				t.Fatalf("the file elsewhere changed after a check of the real directory: mode %o, %v", st.Mode&0o777, err)
			}
			// The next check sees the symlink and follows it, as Puppet does.
			if _, err := f.CheckApply(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			if c.name != "mode" {
				if b, err := os.ReadFile(filepath.Join(elsewhere, "f")); err != nil || string(b) != "new\n" {
					t.Errorf("after a fresh check: %q, %v", b, err)
				}
			}
		})
	}
}
