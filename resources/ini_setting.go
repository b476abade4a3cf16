package resources

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
)

// IniSetting is puppetlabs-inifile's ini_setting with its ruby provider: one
// setting of an INI file (or, with no Setting, a section), read and written by
// iniFile as the module's IniFile class does. The file is rewritten atomically
// (the provider rewrites it in place), keeping its mode and owner.
type IniSetting struct {
	Path    string // absolute
	Section string // "" is the global section, before the first header
	// Setting is the setting's name; nil manages the section only.
	Setting *string
	// Value is the value wanted, stripped as the type's munge strips it; nil when
	// unset (the value is then not managed).
	Value  *string
	Absent bool
	// ForceNewSection (force_new_section_creation, true by default): a setting
	// whose section is missing is added with it. When false, it is left alone.
	ForceNewSection bool
	Separator       string // key_val_separator, " = " by default
	SectionPrefix   string // "[" by default
	SectionSuffix   string // "]" by default
	IndentChar      string // " " by default
	IndentWidth     *int   // nil: the section's indentation
	// Refreshonly: the setting is written only when a refresh event arrives.
	Refreshonly bool
	// ShowDiff is the show_diff parameter: "true" (the default), "false" or "md5".
	ShowDiff string
	// Sensitive: the value is Sensitive, redacted wherever it would be said.
	Sensitive bool

	showDiffRun bool // Puppet's show_diff setting for the run
	h           engine.Handle
	pathWatch
}

var (
	_ engine.Resource  = (*IniSetting)(nil)
	_ engine.Refresher = (*IniSetting)(nil)
)

// Validate checks the path, as the type's validate does.
func (s *IniSetting) Validate() error {
	if !strings.HasPrefix(s.Path, "/") {
		return fmt.Errorf("File paths must be fully qualified, not '%s'", s.Path)
	}
	return nil
}

// ProviderName names the provider, as reports do.
func (s *IniSetting) ProviderName() string { return "ruby" }

// Locks serialises the resources that share the file, as Puppet applies them one
// at a time.
func (s *IniSetting) Locks() []string { return []string{targetLock(s.Path)} }

// SetShowDiff says whether the run shows diffs (Puppet's show_diff setting): the
// value's changes are then said as they are (or as an MD5 with show_diff md5);
// else redacted.
func (s *IniSetting) SetShowDiff(on bool) { s.showDiffRun = on }

// Init keeps the handle.
func (s *IniSetting) Init(h engine.Handle) error {
	s.h = h
	return nil
}

// Watch watches the file.
func (s *IniSetting) Watch(ctx context.Context) error { return s.watch(ctx, s.Path, s.h.Poke) }

// Close ends the watch.
func (s *IniSetting) Close() error {
	s.close()
	return nil
}

// read reads and parses the file as the provider's ini_file does: a missing
// file, or one that is not a regular file, has no lines; one that is not UTF-8
// cannot be read (Ruby's regular expressions refuse it). real is where a write
// goes: the end of the path's symlinks, even a dangling one, since Ruby's
// File.open writes through them; loop says the symlinks never end.
func (s *IniSetting) read() (f *iniFile, real string, dir *atomicfile.DirID, loop bool, err error) {
	real, loop = followLinks(s.Path)
	sweep(s.h, real)
	if id, err := atomicfile.DirOf(real); err == nil {
		dir = &id
	}
	var data []byte
	if st, err := os.Stat(s.Path); err == nil && st.Mode().IsRegular() {
		data, _ = os.ReadFile(s.Path)
	}
	if testHookChecked != nil {
		testHookChecked(s.Path)
	}
	if !utf8.Valid(data) {
		return nil, real, dir, loop, errors.New("invalid byte sequence in UTF-8")
	}
	return newIniFile(data, s.Separator, s.SectionPrefix, s.SectionSuffix, s.IndentChar, s.IndentWidth), real, dir, loop, nil
}

// followLinks follows path's symlinks, the last one even when it dangles, as
// the kernel's open(O_CREAT) does; loop says there were too many of them.
func followLinks(path string) (real string, loop bool) {
	real = path
	for hops := 0; ; hops++ {
		target, err := os.Readlink(real)
		if err != nil {
			if r, err := filepath.EvalSymlinks(filepath.Dir(real)); err == nil {
				real = filepath.Join(r, filepath.Base(real))
			}
			return real, false
		}
		if hops == 40 {
			return path, true
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(real), target)
		}
		real = target
	}
}

// exists is the provider's exists?, and whether a missing section turned ensure
// to absent (force_new_section_creation false).
func (s *IniSetting) exists(f *iniFile) (exists, forcedAbsent bool) {
	switch {
	case s.Setting == nil:
		return f.hasSection(s.Section), false
	case f.hasSection(s.Section):
		_, ok := f.value(s.Section, *s.Setting)
		return ok, false
	case !s.ForceNewSection:
		return false, true
	}
	return false, false
}

// CheckApply compares ensure, then, when the setting is there and should be,
// its value; with apply it writes the file. A refreshonly setting is always in
// sync: only Refresh writes it.
func (s *IniSetting) CheckApply(ctx context.Context, apply bool) (bool, error) {
	defer lockTarget(s.Path)()
	f, real, dir, loop, err := s.read()
	if err != nil {
		return false, err
	}
	exists, forcedAbsent := s.exists(f)
	if s.Refreshonly {
		return true, nil
	}
	want := !s.Absent && !forcedAbsent
	if exists != want {
		c := ensureChange(want)
		s.h.Change(c)
		if !apply {
			return false, nil
		}
		switch {
		case want:
			s.set(f)
		case s.Setting != nil:
			f.removeSetting(s.Section, *s.Setting)
		}
		// (A section alone is never removed: the provider asks to remove its
		// setting nil, which is not there, and writes the file as it was.)
		if err := s.write(f, real, dir, loop); err != nil {
			// Puppet's property set wraps the system error.
			return false, &engine.ChangeError{Property: "ensure", From: c.Previous, To: c.Desired, Err: err, Set: c.Desired}
		}
		return false, nil
	}
	if !want || s.Value == nil || s.Setting == nil {
		return true, nil
	}
	is, _ := f.value(s.Section, *s.Setting)
	if is == *s.Value {
		return true, nil
	}
	c, said := s.valueChange(is, apply)
	s.h.Change(c)
	if !apply {
		return false, nil
	}
	s.set(f)
	if err := s.write(f, real, dir, loop); err != nil {
		return false, &engine.ChangeError{Property: "value", From: c.Previous, To: c.Desired, Err: err, Said: &said}
	}
	return false, nil
}

// Refresh is the type's refresh: a refreshonly setting is written now. Others do
// nothing, though Puppet says it triggered them. (A refreshonly setting that is
// to be absent, or whose section must exist already, runs through Puppet: see
// the translator.)
func (s *IniSetting) Refresh(ctx context.Context, apply bool) error {
	if !s.Refreshonly || !apply {
		return nil
	}
	defer lockTarget(s.Path)()
	f, real, dir, loop, err := s.read()
	if err != nil {
		return err
	}
	s.set(f)
	return s.write(f, real, dir, loop)
}

// set is the provider's create and value=.
func (s *IniSetting) set(f *iniFile) {
	if s.Setting == nil {
		f.setSection(s.Section)
		return
	}
	v := ""
	if s.Value != nil {
		v = *s.Value
	}
	f.setValue(s.Section, *s.Setting, v)
}

// valueChange is the value's change, said as the type's is_to_s and should_to_s
// say it: as it is with show_diff (the run's and the resource's), its MD5 with
// show_diff md5, else redacted; Sensitive values as Puppet redacts them. said
// is the two values as a failure to change them prints them.
func (s *IniSetting) valueChange(is string, apply bool) (c engine.Change, said [2]string) {
	if s.Sensitive {
		c = engine.Change{Property: "value", Previous: "[redacted]", Desired: "[redacted]", Message: "changed [redacted] to [redacted]"}
		if !apply {
			c.Message = "current_value [redacted], should be [redacted] (noop)"
		}
		return c, [2]string{"[redacted]", "[redacted]"}
	}
	show := func(v string) string {
		switch {
		case s.ShowDiff == "true" && s.showDiffRun:
			return v
		case s.ShowDiff == "md5" && s.showDiffRun:
			sum := md5.Sum([]byte(v))
			return "{md5}" + hex.EncodeToString(sum[:])
		}
		return "[redacted sensitive information]"
	}
	said = [2]string{show(is), show(*s.Value)}
	c = engine.Change{Property: "value", Previous: is, Desired: *s.Value,
		Message: fmt.Sprintf("value changed %s to %s", said[0], said[1])}
	if !apply {
		c.Message = fmt.Sprintf("current_value %s, should be %s (noop)", said[0], said[1])
	}
	return c, said
}

// write replaces the file (symlinks followed: real) with f's content, keeping
// its mode and owner; a new file gets 0666 less the umask, as Ruby's File.open
// makes it. A file that exists and is neither a regular file nor a folder (a
// device, a FIFO) is written into, as File.open writes into it. Failures are
// worded as Ruby words File.open's.
func (s *IniSetting) write(f *iniFile, real string, dir *atomicfile.DirID, loop bool) error {
	if loop {
		return rubyOpenError(unix.ELOOP, s.Path)
	}
	content, err := f.content()
	if err != nil {
		return err
	}
	cur, err := readState(real)
	if err != nil {
		return err
	}
	switch {
	case cur.typ == "directory":
		return rubyOpenError(unix.EISDIR, s.Path)
	case cur.exists() && cur.typ != "file":
		w, err := os.OpenFile(real, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return rubyOpenError(err, s.Path)
		}
		_, err = w.WriteString(content)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		return err
	case cur.exists() && content == f.orig:
		// What the provider writes is what is there (a section alone that is
		// to be absent is "removed" so): Puppet writes it all the same, which
		// changes only the file's time; not writing it spares the watch an
		// event that would have it checked, and "removed", again and again.
		return nil
	}
	mode, uid, gid := 0o666&^processUmask(), -1, -1
	if cur.exists() {
		mode, uid, gid = cur.perm, cur.uid, cur.gid
	}
	if err := atomicfile.Write(real, content, atomicfile.Options{Mode: mode, UID: uid, GID: gid, Dir: dir, Yield: yielder(s.h)}); err != nil {
		return rubyOpenError(err, s.Path)
	}
	return nil
}

// rubyOpenError words a failure to write path as Ruby words File.open's:
// "Permission denied @ rb_sysopen - /etc/x.ini". Errors without an errno are
// left as they are.
func rubyOpenError(err error, path string) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return err
	}
	msg := errno.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return fmt.Errorf("%s @ rb_sysopen - %s", msg, path)
}

// processUmask is the process's umask, read from /proc/self/status (asking the
// kernel by setting it would change it for every thread meanwhile); 022 when
// it cannot be read.
func processUmask() uint32 {
	data, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "Umask:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return uint32(n)
				}
			}
		}
	}
	return 0o022
}
