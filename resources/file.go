package resources

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
	"github.com/mgmt-puppet/mgmt-puppet/resources/filecache"
)

var _ engine.Resource = (*File)(nil)

// File manages one path the way Puppet 7's file type does with links => manage: a
// symlink is managed as itself, never followed.
type File struct {
	Path string // absolute and clean
	// Ensure is present (exists as anything; an empty file is created when missing),
	// absent, file, directory or link; empty leaves existence alone and manages the
	// other properties only when the path exists.
	Ensure           string
	Content          *string // nil leaves content alone
	ContentSensitive bool    // logs show [redacted] instead of checksums
	Mode             string  // "0644", "644" or symbolic ("u=rw,go=r"); empty is unmanaged
	Owner            string  // user name or uid; empty is unmanaged
	Group            string  // group name or gid; empty is unmanaged
	Target           string  // the link's target, for ensure link
	Force            bool    // allow replacing or removing a directory
	// Replace allows changing an existing path's content or type. Puppet's default is
	// true; the zero value here is false, so whoever builds a File sets it.
	Replace bool
	warned  bool // the non-root ownership warning was given (beside Replace: no padding)
	// ShowDiff logs a unified diff before content changes (file_diff.go): the
	// show_diff parameter, true by default, and-ed with the run's setting.
	ShowDiff bool
	// Backup is empty for none, or a suffix starting with "." that the old file is
	// copied to (path+suffix) before it is replaced or removed.
	Backup string
	// Checksum names the digest used to compare and print content: sha256 (when
	// empty), md5, sha224, sha384 or sha512.
	Checksum string
	// Source lists Puppet source URLs; the first that exists gives the content
	// (file_source.go). Modules resolves puppet:///modules/ URLs.
	Source  []string
	Modules *ModuleRoots
	// Recurse manages the directory's contents too, as the child resources Puppet
	// generates (file_recurse.go): "" (false), "true" or "remote" (only what the
	// source has). RecurseLimit is how many levels deep; 0 is no limit.
	Recurse      string
	RecurseLimit int
	// Purge removes the children that no source has (with Recurse "true").
	Purge bool
	// Ignore holds glob patterns; recursion leaves matching names alone.
	Ignore []string
	// Managed lists the paths below Path that other File resources of the catalog
	// manage: recursion leaves them, and all below them, alone.
	Managed []string
	// LogContainer is the containment path that generated children's log lines
	// start with ("/Stage[main]/Main").
	LogContainer string
	// ValidateCmd, when set, checks new content before it replaces the file:
	// ValidateReplacement ("%" when empty) in it stands for the temporary file that
	// holds the new content, and the command, run by /bin/sh, must succeed (Puppet's
	// validate_cmd).
	ValidateCmd, ValidateReplacement string

	h engine.Handle
	pathWatch
	more *fileMore // made when Source or Recurse needs it: most Files have neither
	want string    // cached digest of Content
	// known remembers the files read to hold their content (filecache): nil
	// reads every file.
	known *filecache.Cache
}

// SetFileCache has f trust the file cache c about its content (nil: read it).
func (f *File) SetFileCache(c *filecache.Cache) { f.known = c }

// fileMore is the state of a File's sources and recursion.
type fileMore struct {
	tree       *treeWatch // the directories recursion manages, once watched
	sources    watches    // the local paths of Source
	fromSource bool       // Content was read from Source
	sourceDir  string     // the local directory Source named at the last check
}

// extra returns f's source and recursion state, made on first use.
func (f *File) extra() *fileMore {
	if f.more == nil {
		f.more = &fileMore{}
	}
	return f.more
}

// fromSource says Content was read from Source.
func (f *File) fromSource() bool { return f.more != nil && f.more.fromSource }

// sourceDir is the local directory Source named at the last check, if any.
func (f *File) sourceDir() string {
	if f.more == nil {
		return ""
	}
	return f.more.sourceDir
}

// Ensure values.
const (
	ensurePresent   = "present"
	ensureAbsent    = "absent"
	ensureFile      = "file"
	ensureDirectory = "directory"
	ensureLink      = "link"
)

// defaultFileMode is what Puppet gives a new file whose mode is not managed.
const defaultFileMode = 0o644

// FileChecksums lists the checksum values File supports.
var FileChecksums = []string{"sha256", "md5", "sha224", "sha384", "sha512"}

// Validate checks the parameters without touching the system.
// ProviderName names the provider, as reports do: Puppet's File on Linux is posix.
func (f *File) ProviderName() string { return "posix" }

func (f *File) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if !filepath.IsAbs(f.Path) || filepath.Clean(f.Path) != f.Path {
		bad("File paths must be fully qualified and clean, not %q", f.Path)
	}
	switch f.Ensure {
	case "", ensurePresent, ensureAbsent, ensureFile, ensureDirectory:
	case ensureLink:
		if f.Target == "" {
			bad("Cannot create a symlink without a target")
		}
	default:
		bad("invalid ensure %q", f.Ensure)
	}
	if f.Mode != "" {
		if err := ValidFileMode(f.Mode); err != nil {
			bad("mode: %v", err)
		}
	}
	if f.Checksum != "" && newHash(f.Checksum) == nil {
		bad("checksum %q is not supported (want one of %s)", f.Checksum, strings.Join(FileChecksums, ", "))
	}
	if f.Backup != "" && !strings.HasPrefix(f.Backup, ".") {
		bad("backup %q: only a suffix starting with '.' is supported", f.Backup)
	}
	if err := f.checkSource(); err != nil {
		bad("%v", err)
	}
	if err := f.checkRecurse(); err != nil {
		bad("%v", err)
	}
	if err := errors.Join(errs...); err != nil {
		return engine.Permanent(err)
	}
	return nil
}

// Init keeps the handle.
func (f *File) Init(h engine.Handle) error {
	f.h = h
	return nil
}

// Watch registers the path with the shared watcher; every change of the path, its
// type, content, mode or owner, or of its parent directory's existence pokes.
func (f *File) Watch(ctx context.Context) error {
	if err := f.watch(ctx, f.Path, f.h.Poke); err != nil {
		return err
	}
	if err := f.watchSources(ctx); err != nil {
		return err
	}
	return f.watchTree(ctx)
}

// Close cancels the watches.
func (f *File) Close() error {
	f.close()
	if f.more != nil {
		f.more.sources.closeAll()
		if f.more.tree != nil {
			f.more.tree.close()
		}
	}
	return nil
}

// state is what lstat found at the path.
type state struct {
	typ      string // "absent", "file", "directory", "link", "fifo", "socket", "characterSpecial", "blockSpecial"
	perm     uint32 // mode bits 07777
	uid, gid int
	size     int64
	dir      *atomicfile.DirID // the parent directory looked in, when it exists
	stamp    filecache.Stamp   // what changes with the content
	seen     time.Time         // taken before lstat
}

func (s state) exists() bool { return s.typ != ensureAbsent }

func readState(path string) (state, error) {
	var st unix.Stat_t
	seen := time.Now()
	err := unix.Lstat(path, &st)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return state{typ: ensureAbsent}, nil
	}
	if err != nil {
		return state{}, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	s := state{perm: st.Mode & 0o7777, uid: int(st.Uid), gid: int(st.Gid), size: st.Size,
		stamp: filecache.StampOf(&st), seen: seen}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		s.typ = "file"
	case unix.S_IFDIR:
		s.typ = "directory"
	case unix.S_IFLNK:
		s.typ = "link"
	case unix.S_IFIFO:
		s.typ = "fifo"
	case unix.S_IFSOCK:
		s.typ = "socket"
	case unix.S_IFCHR:
		s.typ = "characterSpecial"
	case unix.S_IFBLK:
		s.typ = "blockSpecial"
	default:
		s.typ = "unknown"
	}
	return s, nil
}

// CheckApply compares the path with what is wanted and, when apply is true, repairs
// it, in Puppet's order: ensure, then (when ensure was in sync) content, target,
// owner, group and mode; then, with Recurse, the directory's contents.
func (f *File) CheckApply(ctx context.Context, apply bool) (bool, error) {
	ok, err := f.checkPath(ctx, apply)
	if err != nil || f.Recurse == "" {
		return ok, err
	}
	inSync, err := f.recurse(ctx, apply)
	return ok && inSync, err
}

// checkPath is CheckApply for the path itself.
func (f *File) checkPath(ctx context.Context, apply bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if len(f.Source) > 0 {
		if err := f.loadSource(); err != nil {
			return false, err
		}
	}
	sweep(f.h, f.Path)
	cur, err := readState(f.Path)
	if err != nil {
		return false, err
	}
	if f.inSync(cur) {
		return true, nil // nothing to report or write: no directory to pin
	}
	// Something may change: the directory first, then the path again, so that a
	// write goes only where this check looked.
	dir, dirErr := atomicfile.DirOf(f.Path)
	if cur, err = readState(f.Path); err != nil {
		return false, err
	}
	if dirErr == nil {
		cur.dir = &dir
	}
	if testHookChecked != nil {
		testHookChecked(f.Path)
	}
	return f.checkState(cur, apply)
}

// checkState compares each property with cur, reports what differs and, when
// apply is true, repairs it.
func (f *File) checkState(cur state, apply bool) (bool, error) {
	if handled, ok, err := f.checkEnsure(cur, apply); handled {
		return ok, err
	}
	if !cur.exists() {
		return true, nil // no ensure and nothing there: nothing to manage
	}
	// As Puppet's harness, a property that fails does not stop the others: a
	// content that validate_cmd refuses leaves the mode to be changed.
	ok := true
	var failed error
	for _, check := range []func(state, bool) (bool, error){f.checkContent, f.checkTarget, f.checkOwner, f.checkGroup, f.checkMode} {
		inSync, err := check(cur, apply)
		var ce *engine.ChangeError
		switch {
		case err != nil && errors.As(err, &ce):
			if failed == nil {
				failed = err
			}
		case err != nil:
			return false, err
		}
		ok = ok && inSync
	}
	if failed != nil {
		return false, failed
	}
	return ok, nil
}

// inSync says, reporting nothing and changing nothing, that every property
// checkPath looks at is in sync in cur. It is the common case of a pass and is
// conservative: false only means look in full (the properties may still be in
// sync), and it never says true where the full check would report a change.
func (f *File) inSync(cur state) bool {
	if !cur.exists() {
		return false
	}
	switch want := f.Ensure; {
	case want == "", !f.Replace, want == ensurePresent, want == cur.typ:
	default:
		return false
	}
	if f.Content != nil && cur.typ == ensureFile && f.Replace {
		if same, err := f.hasContent(cur); err != nil || !same {
			return false
		}
	}
	if f.Target != "" && cur.typ == ensureLink && (f.Ensure == ensureLink || f.Ensure == "") {
		return false // the link is read in full
	}
	if f.Owner != "" {
		if uid, found := lookupUID(f.Owner); !found || uid != cur.uid {
			return false
		}
	}
	if f.Group != "" {
		if gid, found := lookupGID(f.Group); !found || gid != cur.gid {
			return false
		}
	}
	if f.Mode != "" && cur.typ != ensureLink {
		if want, _, err := desiredMode(f.Mode, cur.perm, cur.typ == ensureDirectory); err != nil || want != cur.perm {
			return false
		}
	}
	return true
}

// checkEnsure handles the ensure property; handled says the other properties must not
// be looked at (ensure was out of sync, failed, or wants the path absent).
func (f *File) checkEnsure(cur state, apply bool) (handled, ok bool, err error) {
	want := f.Ensure
	switch {
	case want == "":
		return false, true, nil
	case cur.exists() && !f.Replace:
		return false, true, nil // Puppet: an existing path is in sync when not replacing
	case want == ensureAbsent:
		if !cur.exists() {
			return true, true, nil
		}
		if cur.typ == ensureDirectory && !f.Force {
			// Puppet notices this and then claims "removed"; we only notice.
			f.h.Logf(engine.Notice, "Not removing directory; use 'force' to override")
			return true, true, nil
		}
	case want == ensurePresent && cur.exists():
		return false, true, nil
	case want == cur.typ:
		return false, true, nil
	}

	c := f.ensureChange(cur)
	f.h.Change(c)
	if !apply {
		return true, false, nil
	}
	if err := f.syncEnsure(cur); err != nil {
		ce := &engine.ChangeError{Property: "ensure", From: c.Previous, To: c.Desired, Err: err}
		var pe puppetError
		if !errors.As(err, &pe) {
			// A system error: Puppet's property set wraps it ("Could not set 'file'
			// on ensure: ...").
			ce.Set = want
		}
		return true, false, ce
	}
	return true, false, nil
}

// ensureChange describes the ensure change as Puppet's file ensure property does.
func (f *File) ensureChange(cur state) engine.Change {
	c := engine.Change{Property: "ensure", Previous: cur.typ, Desired: f.Ensure}
	creatingFile := f.Ensure == ensureFile || f.Ensure == ensurePresent
	switch {
	case creatingFile && f.Content != nil && f.ContentSensitive:
		c.Previous, c.Desired = "[redacted]", "[redacted]"
		c.Message = "changed [redacted] to [redacted]"
	case creatingFile && f.Content != nil:
		c.Message = fmt.Sprintf("defined content as '%s'", f.wantDigest())
	case !cur.exists():
		c.Message = "created"
	case f.Ensure == ensureAbsent:
		c.Message = "removed"
	default:
		c.Message = fmt.Sprintf("ensure changed '%s' to '%s'", cur.typ, f.Ensure)
	}
	return c
}

// syncEnsure makes the path what Ensure wants. The error texts follow Puppet's.
func (f *File) syncEnsure(cur state) error {
	if cur.exists() {
		if err := f.backup(cur); err != nil {
			return err
		}
		if cur.typ == ensureDirectory {
			if !f.Force {
				// Puppet's file ensure asks remove_existing twice, and says so twice.
				f.h.Logf(engine.Notice, "Not removing directory; use 'force' to override")
				f.h.Logf(engine.Notice, "Not removing directory; use 'force' to override")
				if f.Ensure == ensureLink {
					return engine.Permanent(puppetError{errors.New("Could not remove existing file")})
				}
				return engine.Permanent(fmt.Errorf("Is a directory - Is a directory: %s", f.Path))
			}
			if err := os.RemoveAll(f.Path); err != nil {
				return err
			}
		} else if f.Ensure == ensureAbsent || f.Ensure == ensureDirectory {
			// Files and links are replaced by rename below; these need a removal.
			if err := os.Remove(f.Path); err != nil {
				return err
			}
		}
	}
	switch f.Ensure {
	case ensureAbsent:
		return nil
	case ensureDirectory:
		return f.mkdir()
	case ensureLink:
		return f.symlink()
	default:
		content := ""
		if f.Content != nil {
			content = *f.Content
		}
		mode := uint32(defaultFileMode)
		if f.Mode != "" {
			m, _, err := desiredMode(f.Mode, defaultFileMode, false)
			if err != nil {
				return engine.Permanent(err)
			}
			mode = m
		}
		uid, gid, err := f.ids(-1, -1)
		if err != nil {
			return err
		}
		return writeAtomicChecked(f.Path, content, atomicfile.Options{Mode: mode, UID: uid, GID: gid, Validate: f.validator(), Dir: cur.dir, Yield: yielder(f.h)})
	}
}

// ids resolves the managed owner and group, falling back to uid and gid.
func (f *File) ids(uid, gid int) (int, int, error) {
	if f.Owner != "" && os.Geteuid() == 0 {
		u, ok := lookupUID(f.Owner)
		if !ok {
			return 0, 0, fmt.Errorf("Could not find user %s", f.Owner)
		}
		uid = u
	}
	if f.Group != "" {
		g, ok := lookupGID(f.Group)
		if !ok {
			return 0, 0, fmt.Errorf("Could not find group %s", f.Group)
		}
		gid = g
	}
	return uid, gid, nil
}

func (f *File) mkdir() error {
	parent := filepath.Dir(f.Path)
	if _, err := os.Stat(parent); err != nil {
		return puppetError{fmt.Errorf("Cannot create %s; parent directory %s does not exist", f.Path, parent)}
	}
	if err := os.Mkdir(f.Path, 0o777); err != nil { // the umask applies, as in Puppet
		return err
	}
	if f.Mode != "" {
		m, _, err := desiredMode(f.Mode, 0o755, true)
		if err != nil {
			return engine.Permanent(err)
		}
		if err := atomicfile.Chmod(f.Path, m, nil); err != nil {
			return err
		}
	}
	return f.chownNew()
}

func (f *File) symlink() error {
	if err := atomicfile.Symlink(f.Target, f.Path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Puppet changes into the link's directory first.
			return fmt.Errorf("No such file or directory @ dir_chdir - %s", filepath.Dir(f.Path))
		}
		return err
	}
	return f.chownNew()
}

// chownNew gives a path just made its managed owner and group.
func (f *File) chownNew() error {
	uid, gid, err := f.ids(-1, -1)
	if err != nil {
		return err
	}
	if uid == -1 && gid == -1 {
		return nil
	}
	return atomicfile.Lchown(f.Path, uid, gid, nil)
}

// checkContent handles content: only a regular file's, only when managed and allowed
// to be replaced.
func (f *File) checkContent(cur state, apply bool) (bool, error) {
	if f.Content == nil || cur.typ != ensureFile || !f.Replace {
		return true, nil
	}
	// Equal bytes are equal digests: compare first, hash only to report a change.
	if same, err := f.hasContent(cur); err != nil || same {
		return same, err
	}
	have, err := f.digestFile()
	if err != nil {
		return false, err
	}
	want := f.wantDigest()
	c := engine.Change{Property: "content", Previous: have, Desired: want,
		Message: fmt.Sprintf("content changed '%s' to '%s'", have, want)}
	if f.ContentSensitive {
		c.Previous, c.Desired, c.Message = "[redacted]", "[redacted]", "changed [redacted] to [redacted]"
	}
	if f.ShowDiff {
		f.showDiff()
	}
	f.h.Change(c)
	if !apply {
		return false, nil
	}
	fail := func(err error) error {
		return &engine.ChangeError{Property: "content", From: c.Previous, To: c.Desired, Err: err}
	}
	if err := f.backup(cur); err != nil {
		return false, fail(err)
	}
	// The new file gets its final mode and owner before it appears, so that new
	// content is never visible with the old, maybe wider, permissions.
	mode := cur.perm
	if f.Mode != "" {
		if m, _, err := desiredMode(f.Mode, cur.perm, false); err == nil {
			mode = m
		}
	}
	uid, gid, err := f.ids(cur.uid, cur.gid)
	if err != nil {
		uid, gid = cur.uid, cur.gid // the owner check reports it
	}
	if err := writeAtomicChecked(f.Path, *f.Content, atomicfile.Options{Mode: mode, UID: uid, GID: gid, Validate: f.validator(), Dir: cur.dir, Yield: yielder(f.h)}); err != nil {
		return false, fail(err)
	}
	return false, nil
}

// puppetError is an error Puppet raises as a Puppet::Error in its file type, which
// its property set passes on as it is, where it wraps a system error.
type puppetError struct{ error }

func (e puppetError) Unwrap() error { return e.error }

// validator runs ValidateCmd on a temporary file, or is nil without one. Its error
// is Puppet's: "Execution of 'CMD' returned N: OUTPUT".
func (f *File) validator() func(tmp string) error {
	if f.ValidateCmd == "" {
		return nil
	}
	return func(tmp string) error {
		repl := f.ValidateReplacement
		if repl == "" {
			repl = "%"
		}
		cmd := strings.ReplaceAll(f.ValidateCmd, repl, tmp)
		out, err := exec.Command("/bin/sh", "-c", cmd).CombinedOutput()
		if err == nil {
			return nil
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("Execution of '%s' returned %d: %s", cmd, exit.ExitCode(), strings.TrimSpace(string(out)))
		}
		return fmt.Errorf("Execution of '%s' failed: %v", cmd, err)
	}
}

// checkTarget handles a link's target.
func (f *File) checkTarget(cur state, apply bool) (bool, error) {
	if f.Target == "" || cur.typ != ensureLink || (f.Ensure != ensureLink && f.Ensure != "") {
		return true, nil
	}
	have, err := os.Readlink(f.Path)
	if err != nil {
		return false, err
	}
	if have == f.Target {
		return true, nil
	}
	c := engine.Change{Property: "target", Previous: have, Desired: f.Target,
		Message: fmt.Sprintf("target changed %s to %s", engine.PuppetString(have), engine.PuppetString(f.Target))}
	f.h.Change(c)
	if !apply {
		return false, nil
	}
	if err := f.backup(cur); err != nil {
		return false, &engine.ChangeError{Property: "target", From: have, To: f.Target, Err: err}
	}
	if err := f.symlink(); err != nil {
		return false, &engine.ChangeError{Property: "target", From: have, To: f.Target, Err: err}
	}
	return false, nil
}

func (f *File) checkOwner(cur state, apply bool) (bool, error) {
	if f.Owner == "" {
		return true, nil
	}
	uid, found := lookupUID(f.Owner)
	if found && uid == cur.uid {
		return true, nil
	}
	if found && os.Geteuid() != 0 {
		if !f.warned {
			f.warned = true
			f.h.Logf(engine.Warning, "Cannot manage ownership unless running as root")
		}
		return true, nil
	}
	desired := f.Owner
	if found {
		desired = uidName(uid)
	}
	c := engine.Change{Property: "owner", Previous: uidName(cur.uid), Desired: desired}
	c.Message = fmt.Sprintf("owner changed '%s' to '%s'", c.Previous, c.Desired)
	f.h.Change(c)
	if !apply {
		return false, nil
	}
	if !found {
		return false, &engine.ChangeError{Property: "owner", From: c.Previous, To: c.Desired,
			Err: fmt.Errorf("Could not find user %s", f.Owner)}
	}
	if err := atomicfile.Lchown(f.Path, uid, -1, cur.dir); err != nil {
		return false, &engine.ChangeError{Property: "owner", From: c.Previous, To: c.Desired, Err: err}
	}
	return false, nil
}

func (f *File) checkGroup(cur state, apply bool) (bool, error) {
	if f.Group == "" {
		return true, nil
	}
	gid, found := lookupGID(f.Group)
	if found && gid == cur.gid {
		return true, nil
	}
	desired := f.Group
	if found {
		desired = gidName(gid)
	}
	c := engine.Change{Property: "group", Previous: gidName(cur.gid), Desired: desired}
	c.Message = fmt.Sprintf("group changed '%s' to '%s'", c.Previous, c.Desired)
	f.h.Change(c)
	if !apply {
		return false, nil
	}
	if !found {
		return false, &engine.ChangeError{Property: "group", From: c.Previous, To: c.Desired,
			Err: fmt.Errorf("Could not find group %s", f.Group)}
	}
	if err := atomicfile.Lchown(f.Path, -1, gid, cur.dir); err != nil {
		return false, &engine.ChangeError{Property: "group", From: c.Previous, To: c.Desired, Err: err}
	}
	return false, nil
}

// checkMode handles mode; a link's mode is not managed.
func (f *File) checkMode(cur state, apply bool) (bool, error) {
	if f.Mode == "" || cur.typ == ensureLink {
		return true, nil
	}
	want, display, err := desiredMode(f.Mode, cur.perm, cur.typ == ensureDirectory)
	if err != nil {
		return false, engine.Permanent(fmt.Errorf("mode: %w", err))
	}
	if want == cur.perm {
		return true, nil
	}
	have := fmt.Sprintf("%04o", cur.perm)
	c := engine.Change{Property: "mode", Previous: have, Desired: display,
		Message: fmt.Sprintf("mode changed '%s' to '%s'", have, display)}
	f.h.Change(c)
	if !apply {
		return false, nil
	}
	if err := atomicfile.Chmod(f.Path, want, cur.dir); err != nil {
		return false, &engine.ChangeError{Property: "mode", From: have, To: display, Err: err}
	}
	return false, nil
}

// backup copies the existing file to Path+Backup before it is replaced or removed.
func (f *File) backup(cur state) error {
	if f.Backup == "" {
		return nil
	}
	dst := f.Path + f.Backup
	switch cur.typ {
	case ensureFile:
		src, err := os.Open(f.Path)
		if err != nil {
			return fmt.Errorf("Could not back up; will not remove: %w", err)
		}
		defer src.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, src); err != nil {
			return fmt.Errorf("Could not back up; will not remove: %w", err)
		}
		if err := writeAtomic(dst, b.String(), cur.perm, cur.uid, cur.gid); err != nil {
			return fmt.Errorf("Could not back up; will not remove: %w", err)
		}
	case ensureLink:
		target, err := os.Readlink(f.Path)
		if err == nil {
			err = atomicfile.Symlink(target, dst)
		}
		if err != nil {
			return fmt.Errorf("Could not back up; will not remove: %w", err)
		}
	default:
		f.h.Logf(engine.Warning, "Could not back up file of type %s", cur.typ)
	}
	return nil
}

// writeAtomic replaces path with a file holding content, mode and owner, as
// atomicfile.Write does: readers, and a crash, see the old file or the new one, never
// a part, and no temporary file outlives a crash (Puppet syncs too). uid or gid -1
// leaves that id as the process's.
func writeAtomic(path, content string, mode uint32, uid, gid int) error {
	return writeAtomicChecked(path, content, atomicfile.Options{Mode: mode, UID: uid, GID: gid})
}

// yielder is the engine's Yield for h (its slot lent while a write waits for the
// disk), nil when h has none.
func yielder(h engine.Handle) func(wait func()) {
	if y, ok := h.(engine.Yielder); ok {
		return y.Yield
	}
	return nil
}

// writeAtomicChecked is writeAtomic with all of atomicfile's options (validation,
// the directory the check saw), and Puppet's words for a missing directory.
func writeAtomicChecked(path, content string, o atomicfile.Options) error {
	err := atomicfile.Write(path, content, o)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Op == "open" {
			// Puppet names its temporary file.
			tmp := filepath.Join(filepath.Dir(path), atomicfile.TempName(filepath.Base(path)))
			return fmt.Errorf("No such file or directory - A directory component in %s does not exist or is a dangling symbolic link", tmp)
		}
	}
	return err
}

// testHookChecked, when set by a test, runs between a check's read of a path (File,
// File_line, the parsed-file types) and its changes.
var testHookChecked func(path string)

// sweep removes the temporary files an interrupted write left beside path, once per
// directory and process, and says so.
func sweep(h engine.Handle, path string) {
	for _, p := range atomicfile.Sweep(filepath.Dir(path)) {
		h.Logf(engine.Info, "Removed %s, left by an interrupted write", p)
	}
}

func newHash(name string) hash.Hash {
	switch name {
	case "", "sha256":
		return sha256.New()
	case "md5":
		return md5.New()
	case "sha224":
		return sha256.New224()
	case "sha384":
		return sha512.New384()
	case "sha512":
		return sha512.New()
	}
	return nil
}

func (f *File) checksumName() string {
	if f.Checksum == "" {
		return "sha256"
	}
	return f.Checksum
}

// wantDigest is the desired content's digest as Puppet prints it: {sha256}hex.
func (f *File) wantDigest() string {
	if f.want == "" && f.Content != nil {
		h := newHash(f.Checksum)
		io.WriteString(h, *f.Content)
		f.want = "{" + f.checksumName() + "}" + hex.EncodeToString(h.Sum(nil))
	}
	return f.want
}

// digestFile is the digest of the file at Path.
func (f *File) digestFile() (string, error) {
	h := newHash(f.Checksum)
	if err := hashFile(f.Path, h); err != nil {
		return "", err
	}
	return "{" + f.checksumName() + "}" + hex.EncodeToString(h.Sum(nil)), nil
}

// readBufs holds read buffers for hashFile and sameContent.
var readBufs = sync.Pool{New: func() any { return new([16 << 10]byte) }}

// hashFile feeds the file at path into h, calling the system directly as writeAtomic
// does.
func hashFile(path string, h hash.Hash) error {
	return readFile(path, func(b []byte) bool { h.Write(b); return true })
}

// hasContent reports whether the regular file cur holds exactly Content: as
// the file cache remembers it, or as read (and then remembered).
func (f *File) hasContent(cur state) (bool, error) {
	if f.known == nil {
		return sameContent(f.Path, *f.Content, cur.size, nil)
	}
	if f.known.Holds(f.Path, cur.stamp, *f.Content) {
		return true, nil
	}
	recordable := false
	same, err := sameContent(f.Path, *f.Content, cur.size, func(fd int) {
		recordable = f.known.Recordable(fd, cur.stamp, cur.seen)
	})
	if same && err == nil && recordable {
		f.known.Add(cur.stamp, *f.Content)
	}
	return same, err
}

// sameContent reports whether the file at path holds exactly want.
// size is the file's size as the check found it: another size is other content,
// and reading stops once that many bytes matched, without a read at the end of
// the file (a write since then pokes the resource again). opened, when not nil,
// is called with the file's descriptor before it is read.
func sameContent(path, want string, size int64, opened func(fd int)) (bool, error) {
	if size != int64(len(want)) {
		return false, nil
	}
	same, read := true, int64(0)
	err := readFileOpened(path, opened, func(b []byte) bool {
		if len(b) > len(want) || string(b) != want[:len(b)] {
			same = false
			return false
		}
		want = want[len(b):]
		read += int64(len(b))
		return read < size
	})
	return same && want == "", err
}

// readFile passes the file at path to each chunk by chunk until it returns false.
func readFile(path string, each func([]byte) bool) error {
	return readFileOpened(path, nil, each)
}

// readFileOpened is readFile that calls opened, when not nil, with the file's
// descriptor before it is read.
func readFileOpened(path string, opened func(fd int), each func([]byte) bool) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if opened != nil {
		opened(fd)
	}
	buf := readBufs.Get().(*[16 << 10]byte)
	defer readBufs.Put(buf)
	for {
		n, err := unix.Read(fd, buf[:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return nil
		}
		if !each(buf[:n]) {
			return nil
		}
	}
}

// lookupUID resolves a user name or numeric id.
func lookupUID(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, true
	}
	u, err := user.Lookup(s)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(u.Uid)
	return n, err == nil
}

// lookupGID resolves a group name or numeric id.
func lookupGID(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, true
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(g.Gid)
	return n, err == nil
}

// uidName prints a uid as Puppet does: the name when there is one.
func uidName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func gidName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}
