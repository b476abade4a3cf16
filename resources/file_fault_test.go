package resources

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
)

// A managed file's directory swapped for a symlink between the check's read and
// the change: the change is refused, nothing is written through the symlink, and
// the next check follows the symlink as Puppet does. For File, File_line and a
// parsed-file type.
func TestDirSwappedAfterCheck(t *testing.T) {
	type resource interface {
		Init(engine.Handle) error
		CheckApply(context.Context, bool) (bool, error)
	}
	cases := []struct {
		name string
		make func(path string) resource
		old  bool   // the path exists before, in the real directory and elsewhere
		want string // in the file elsewhere after the next check
	}{
		{"File create", func(p string) resource {
			c := "new\n"
			return &File{Path: p, Ensure: "file", Content: &c, Replace: true}
		}, false, "new\n"},
		{"File content", func(p string) resource {
			c := "new\n"
			return &File{Path: p, Ensure: "file", Content: &c, Replace: true}
		}, true, "new\n"},
		{"File mode", func(p string) resource { return &File{Path: p, Ensure: "file", Mode: "0640", Replace: true} }, true, "other\n"},
		{"File_line", func(p string) resource { return &FileLine{Path: p, Line: "port = 1"} }, true, "other\nport = 1\n"},
		{"Host", func(p string) resource { ip := "10.0.0.1"; return &Host{Name: "a.example", IP: &ip, Target: p} }, true, ""},
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
			r := c.make(path)
			r.Init(newFileHandle())
			_, err := r.CheckApply(context.Background(), true)
			if !errors.Is(err, atomicfile.ErrDirChanged) {
				t.Fatalf("error %v, want ErrDirChanged", err)
			}
			var st unix.Stat_t
			switch err := unix.Lstat(filepath.Join(elsewhere, "f"), &st); {
			case !c.old && err == nil:
				t.Fatal("created through the symlink after a check of the real directory")
			case c.old && err != nil:
				t.Fatal(err)
			case c.old:
				if b, _ := os.ReadFile(filepath.Join(elsewhere, "f")); string(b) != "other\n" || st.Mode&0o777 != 0o600 {
					t.Fatalf("the file elsewhere changed after a check of the real directory: %q mode %o", b, st.Mode&0o777)
				}
			}
			// The next check sees the symlink and follows it, as Puppet does.
			if _, err := r.CheckApply(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(elsewhere, "f"))
			switch {
			case err != nil:
				t.Error(err)
			case c.want != "" && string(b) != c.want:
				t.Errorf("after a fresh check: %q, want %q", b, c.want)
			case c.want == "" && !strings.Contains(string(b), "a.example"):
				t.Errorf("after a fresh check: %q, want the host", b)
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
