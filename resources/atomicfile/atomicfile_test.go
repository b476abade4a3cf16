package atomicfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// modes runs f with O_TMPFILE, linked by its descriptor and by its /proc link, and
// with the named fallback.
func modes(t *testing.T, f func(t *testing.T)) {
	for _, m := range []struct {
		name        string
		named, proc bool
	}{{"tmpfile", false, false}, {"tmpfile-proc", false, true}, {"named", true, false}} {
		t.Run(m.name, func(t *testing.T) {
			noTmpfile = m.named
			linkViaProc.Store(m.proc)
			t.Cleanup(func() { noTmpfile = false; linkViaProc.Store(false) })
			f(t)
		})
	}
}

// names lists dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestWrite(t *testing.T) {
	modes(t, func(t *testing.T) {
		cases := []struct {
			name, old, content string
			mode               uint32
		}{
			{"new", "", "hello\n", 0o640},
			{"replace", "old content\n", "new\n", 0o600},
			{"empty", "something", "", 0o644},
			{"large", "", strings.Repeat("x", 1<<20+3), 0o644},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "f")
				var oldIno uint64
				if c.old != "" {
					if err := os.WriteFile(path, []byte(c.old), 0o666); err != nil {
						t.Fatal(err)
					}
					var st unix.Stat_t
					unix.Stat(path, &st)
					oldIno = st.Ino
				}
				if err := Write(path, c.content, Options{Mode: c.mode, UID: -1, GID: -1}); err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(path)
				if err != nil || string(got) != c.content {
					t.Fatalf("content %.40q, %v; want %.40q", got, err, c.content)
				}
				var st unix.Stat_t
				unix.Stat(path, &st)
				if st.Mode&0o7777 != c.mode {
					t.Errorf("mode %o, want %o", st.Mode&0o7777, c.mode)
				}
				if oldIno != 0 && st.Ino == oldIno {
					t.Error("replaced in place: a reader could see a part")
				}
				if n := names(t, dir); !slices.Equal(n, []string{"f"}) {
					t.Errorf("directory holds %q, want only f", n)
				}
			})
		}
	})
}

func TestWriteValidate(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "sudoers")
		os.WriteFile(path, []byte("old\n"), 0o440)
		var seen string
		refuse := errors.New("refused")
		err := Write(path, "new\n", Options{Mode: 0o440, UID: -1, GID: -1, Validate: func(tmp string) error {
			if filepath.Dir(tmp) != dir || !IsTemp(filepath.Base(tmp)) {
				t.Errorf("validated %s: not a temporary name beside the target", tmp)
			}
			b, err := os.ReadFile(tmp)
			seen = string(b)
			if err != nil {
				return err
			}
			return refuse
		}})
		if !errors.Is(err, refuse) {
			t.Fatalf("error %v, want the validator's", err)
		}
		if seen != "new\n" {
			t.Errorf("validator read %q, want the whole new content", seen)
		}
		if b, _ := os.ReadFile(path); string(b) != "old\n" {
			t.Errorf("target holds %q after a refused validation, want the old content", b)
		}
		if n := names(t, dir); !slices.Equal(n, []string{"sudoers"}) {
			t.Errorf("directory holds %q, want only sudoers", n)
		}
		if err := Write(path, "new\n", Options{Mode: 0o440, UID: -1, GID: -1, Validate: func(string) error { return nil }}); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != "new\n" {
			t.Errorf("target holds %q after a passed validation", b)
		}
	})
}

// A directory swapped for a symlink after the check is not written through.
func TestWriteDirChanged(t *testing.T) {
	modes(t, func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "conf")
		elsewhere := filepath.Join(root, "elsewhere")
		for _, d := range []string{dir, elsewhere} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, "f")
		id, err := DirOf(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dir, dir+".old"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(elsewhere, dir); err != nil {
			t.Fatal(err)
		}
		err = Write(path, "x", Options{Mode: 0o644, UID: -1, GID: -1, Dir: &id})
		if !errors.Is(err, ErrDirChanged) || !strings.Contains(err.Error(), dir) {
			t.Fatalf("error %v, want ErrDirChanged naming %s", err, dir)
		}
		if n := names(t, elsewhere); len(n) != 0 {
			t.Errorf("written through the symlink: %q", n)
		}
		// Followed as Puppet follows it once the check has seen it.
		id, _ = DirOf(path)
		if err := Write(path, "x", Options{Mode: 0o644, UID: -1, GID: -1, Dir: &id}); err != nil {
			t.Fatal(err)
		}
		if n := names(t, elsewhere); !slices.Equal(n, []string{"f"}) {
			t.Errorf("elsewhere holds %q after a check that saw the symlink", n)
		}
	})
}

func TestWriteMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "f")
	err := Write(path, "x", Options{Mode: 0o644, UID: -1, GID: -1})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v, want not exist", err)
	}
}

func TestChmodDoesNotFollow(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, nil, 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(secret, link)
	if err := Chmod(link, 0o666, nil); !errors.Is(err, unix.ELOOP) {
		t.Errorf("chmod of a symlink: %v, want ELOOP", err)
	}
	var st unix.Stat_t
	unix.Stat(secret, &st)
	if st.Mode&0o777 != 0o600 {
		t.Errorf("the link's target got mode %o", st.Mode&0o777)
	}
	if err := Chmod(secret, 0o640, nil); err != nil {
		t.Fatal(err)
	}
	unix.Stat(secret, &st)
	if st.Mode&0o777 != 0o640 {
		t.Errorf("mode %o, want 640", st.Mode&0o777)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o700)
	if err := Chmod(sub, 0o755, nil); err != nil {
		t.Fatalf("chmod of a directory: %v", err)
	}
}

func TestSymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "l")
	os.WriteFile(path, []byte("file"), 0o644)
	if err := Symlink("/target", path); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(path); err != nil || got != "/target" {
		t.Errorf("readlink %q, %v", got, err)
	}
	if n := names(t, dir); !slices.Equal(n, []string{"l"}) {
		t.Errorf("directory holds %q", n)
	}
}

func TestTempName(t *testing.T) {
	for _, base := range []string{"f", "sites.conf", strings.Repeat("n", 255)} {
		n := TempName(base)
		if len(n) > 255 || !IsTemp(n) || !strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".tmp") {
			t.Errorf("TempName(%.20q...) = %q: too long, or not hidden and .tmp", base, n)
		}
	}
	for _, n := range []string{".f.tmp", "f.mgmt-puppet-ABCDEFGHIJKL.tmp", ".f.ABCDEFGHIJKL.tmp", ".f.mgmt-puppet-abcdefghijkl.tmp"} {
		if IsTemp(n) {
			t.Errorf("IsTemp(%q): not a name of ours", n)
		}
	}
}

func TestSweep(t *testing.T) {
	dir := t.TempDir()
	leftover := TempName("f")
	for _, n := range []string{"f", leftover, ".f.tmp", ".other.ABCDEFGHIJKL.tmp"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	saved := started
	started = time.Now().Add(time.Second) // the files above predate this process
	t.Cleanup(func() { started = saved })
	if got := Sweep(dir); !slices.Equal(got, []string{filepath.Join(dir, leftover)}) {
		t.Errorf("Sweep removed %q, want only the leftover", got)
	}
	if n := names(t, dir); !slices.Equal(n, []string{".f.tmp", ".other.ABCDEFGHIJKL.tmp", "f"}) {
		t.Errorf("left %q", n)
	}
	if got := Sweep(dir); got != nil {
		t.Errorf("second Sweep: %q, want nil", got)
	}

	// The temporary file of a write in progress in another process is newer than
	// this one: it stays.
	live := t.TempDir()
	started = time.Now().Add(-time.Second)
	inFlight := filepath.Join(live, TempName("g"))
	os.WriteFile(inFlight, nil, 0o644)
	if got := Sweep(live); got != nil {
		t.Errorf("Sweep removed %q, a file newer than the process", got)
	}
	if _, err := os.Stat(inFlight); err != nil {
		t.Error(err)
	}
}

// As any user but root, a new file is linked too: by its descriptor where the
// kernel allows it (Linux 6.10 and later: a file its caller opened), else by its
// /proc link (CAP_DAC_READ_SEARCH is needed before 6.10: this kernel's refusal
// cannot be shown on a newer one, so the child forces the /proc link once).
// Run as root, the test runs itself again as nobody.
func TestWriteUnprivileged(t *testing.T) {
	if dir := os.Getenv("ATOMICFILE_UNPRIVILEGED_DIR"); dir != "" { // the child
		for _, proc := range []bool{false, true} {
			linkViaProc.Store(proc)
			path := filepath.Join(dir, "f-"+strconv.FormatBool(proc))
			if err := Write(path, "new\n", Options{Mode: 0o644, UID: -1, GID: -1}); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != "new\n" {
				t.Fatalf("%s: content %q, %v", path, b, err)
			}
		}
		return
	}
	testenv.NeedRoot(t, "runs itself again as nobody")
	// nobody must reach the copy of this binary and the directory written in.
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "atomicfile.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "w")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	cmd := exec.Command(bin, "-test.run", "^TestWriteUnprivileged$", "-test.v")
	cmd.Env = append(os.Environ(), "ATOMICFILE_UNPRIVILEGED_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	for _, name := range []string{"f-false", "f-true"} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, name), &st); err != nil || st.Uid != 65534 {
			t.Errorf("%s: uid %d, %v; want nobody's", name, st.Uid, err)
		}
	}
}
