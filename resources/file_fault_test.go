package resources

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// A file whose mode is managed, swapped again and again for a symlink to a secret
// while it is checked and repaired as fast as possible: the secret's mode and owner
// never change (chmod and chown never follow the link).
func TestFileSwappedForSymlinkStress(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "f")
	os.WriteFile(path, nil, 0o600)
	f := &File{Path: path, Mode: "0644"}
	f.Init(newFileHandle())
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the attacker
		defer close(done)
		tmp := path + ".swap"
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				os.WriteFile(tmp, nil, 0o600)
			} else {
				os.Symlink(secret, tmp)
			}
			os.Rename(tmp, path)
		}
	}()
	repaired := 0
	for start := time.Now(); time.Since(start) < 2*time.Second; {
		if ok, err := f.CheckApply(context.Background(), true); err == nil && !ok {
			repaired++
		}
		var st unix.Stat_t
		if unix.Stat(secret, &st) == nil && st.Mode&0o777 != 0o600 {
			break
		}
	}
	close(stop)
	<-done
	var st unix.Stat_t
	if err := unix.Stat(secret, &st); err != nil || st.Mode&0o777 != 0o600 {
		t.Fatalf("the secret's mode is %o (%v) after %d repairs beside a swapping attacker", st.Mode&0o777, err, repaired)
	}
	if repaired == 0 {
		t.Error("no repair happened: the race was not exercised")
	}
	t.Logf("%d repairs, secret untouched", repaired)
}
