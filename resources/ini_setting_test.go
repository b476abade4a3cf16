package resources

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// TestIniSettingFiles: where and how the provider's File.open would write, as
// checked against puppet apply: through symlinks (a dangling one creates its
// target), into a device, the umask for a new file, a section alone that is to
// be absent (said removed, nothing changed), and Ruby's words for failures.
func TestIniSettingFiles(t *testing.T) {
	k := "k"
	v := "v"
	newSetting := func(path string, set func(*IniSetting)) (*IniSetting, *fileHandle) {
		s := &IniSetting{Path: path, Setting: &k, Value: &v, ForceNewSection: true, Separator: " = ",
			SectionPrefix: "[", SectionSuffix: "]", IndentChar: " ", ShowDiff: "true"}
		if set != nil {
			set(s)
		}
		h := newFileHandle()
		if err := s.Init(h); err != nil {
			t.Fatal(err)
		}
		return s, h
	}
	apply := func(s *IniSetting) error {
		_, err := s.CheckApply(t.Context(), true)
		return err
	}

	t.Run("dangling symlink", func(t *testing.T) {
		dir := t.TempDir()
		link := filepath.Join(dir, "link.ini")
		if err := os.Symlink("target.ini", link); err != nil {
			t.Fatal(err)
		}
		s, _ := newSetting(link, nil)
		if err := apply(s); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the link was replaced: %v %v", st, err)
		}
		data, err := os.ReadFile(filepath.Join(dir, "target.ini"))
		if err != nil || string(data) != "k = v\n" {
			t.Errorf("target: %q, %v", data, err)
		}
	})
	t.Run("symlink loop", func(t *testing.T) {
		loop := filepath.Join(t.TempDir(), "loop.ini")
		if err := os.Symlink("loop.ini", loop); err != nil {
			t.Fatal(err)
		}
		s, _ := newSetting(loop, nil)
		err := apply(s)
		var ce *engine.ChangeError
		if !errors.As(err, &ce) || ce.Cause("", 0) != "Could not set 'present' on ensure: Too many levels of symbolic links @ rb_sysopen - "+loop {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a folder", func(t *testing.T) {
		d := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		s, _ := newSetting(d, nil)
		if err := apply(s); err == nil || !strings.HasSuffix(err.Error(), "Is a directory @ rb_sysopen - "+d) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a device", func(t *testing.T) {
		s, h := newSetting("/dev/null", nil)
		if err := apply(s); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat("/dev/null"); err != nil || st.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("/dev/null is no longer a device: %v %v", st, err)
		}
		if len(h.take()) != 1 {
			t.Error("no change said")
		}
	})
	t.Run("umask", func(t *testing.T) {
		old := syscall.Umask(0o077)
		defer syscall.Umask(old)
		p := filepath.Join(t.TempDir(), "new.ini")
		s, _ := newSetting(p, nil)
		if err := apply(s); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600 (%v)", st.Mode(), err)
		}
	})
	t.Run("a section alone, absent", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "a.ini")
		if err := os.WriteFile(p, []byte("[s]\nx = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		before, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		s, h := newSetting(p, func(s *IniSetting) { s.Setting, s.Value, s.Section, s.Absent = nil, nil, "s", true })
		if err := apply(s); err != nil {
			t.Fatal(err)
		}
		if c := h.take(); len(c) != 1 || c[0].Message != "removed" {
			t.Errorf("changes %+v, want removed", c)
		}
		if data, _ := os.ReadFile(p); string(data) != "[s]\nx = 1\n" {
			t.Errorf("content %q", data)
		}
		// Not written again (its watch would see it, and it would be removed
		// again and again).
		if after, err := os.Stat(p); err != nil || !os.SameFile(before, after) {
			t.Errorf("the file was replaced (%v)", err)
		}
	})
	t.Run("not UTF-8", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "a.ini")
		if err := os.WriteFile(p, []byte("[m]\n# caf\xe9\nk = old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		s, h := newSetting(p, nil)
		if err := apply(s); err == nil || err.Error() != "invalid byte sequence in UTF-8" || len(h.take()) != 0 {
			t.Errorf("got %v", err)
		}
	})
}
