package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Options says what a new file gets besides its content.
type Options struct {
	Mode     uint32 // permission bits, applied after the owner (which clears setuid)
	UID, GID int    // -1 leaves the id the process's
	// Validate, when set, is called with a name of the complete new file before it
	// replaces the target; an error keeps the old file.
	Validate func(tmp string) error
	// Dir, when set, is the target's directory as the caller saw it when it decided
	// to write: if the path now leads elsewhere (a directory renamed, swapped for a
	// symlink), nothing is written and the error wraps ErrDirChanged.
	Dir *DirID
	// Yield, when set, runs the wait for the new file's data to be durable (a wait
	// on the disk, shared with other writers), so that the caller can do other
	// work meanwhile: the engine lends the resource's slot (engine.Yielder).
	Yield func(wait func())
}

// ErrDirChanged says a target's directory is no longer the one the caller checked.
var ErrDirChanged = errors.New("directory changed between check and write")

// DirID identifies a directory: its device and inode.
type DirID struct{ dev, ino uint64 }

// DirOf identifies the directory holding path, following symlinks as path lookup
// does (Puppet writes through a parent that is a symlink).
func DirOf(path string) (DirID, error) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Dir(path), &st); err != nil {
		return DirID{}, err
	}
	return DirID{st.Dev, st.Ino}, nil
}

// Write replaces path with a regular file holding content, with the mode and owner
// of o, durable (fsync) before it appears. The error names path and the failed step.
func Write(path, content string, o Options) error {
	dir, base := filepath.Split(path)
	dfd, dev, err := openDir(dir, o.Dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	fd, tmp, err := create(dfd, dir, base)
	if err != nil {
		return err
	}
	// From here an unnamed file vanishes with its descriptor; a named one (the
	// fallback, or once linked for validation) is removed on every error.
	fail := func(op string, err error) error {
		unix.Close(fd)
		if tmp != "" {
			unix.Unlinkat(dfd, tmp, 0)
		}
		return &fs.PathError{Op: op, Path: path, Err: err}
	}
	if err := fill(fd, content, o); err != nil {
		return fail("write", err)
	}
	if o.Yield != nil {
		o.Yield(func() { err = durable(fd, dev) })
	} else {
		err = durable(fd, dev)
	}
	if err != nil {
		return fail("sync", err)
	}
	if tmp == "" && o.Validate != nil {
		if tmp, err = link(fd, dfd, base); err != nil {
			return fail("link", err)
		}
	}
	if o.Validate != nil {
		if err := o.Validate(filepath.Join(dir, tmp)); err != nil {
			unix.Close(fd)
			unix.Unlinkat(dfd, tmp, 0)
			return err
		}
	}
	if tmp == "" {
		// A new path is linked in place at once: no name but the final one ever.
		err := linkAs(fd, dfd, base)
		if err == nil {
			return closeFD(fd, path)
		}
		if err != unix.EEXIST {
			return fail("link", err)
		}
		// Replacing: a temporary name, renamed over the old file. A kill between
		// the two leaves that name (the next start's Sweep removes it); one
		// writer per directory at a time in this step keeps that to one name.
		unlock := lockDir(dir)
		defer unlock()
		if tmp, err = link(fd, dfd, base); err != nil {
			return fail("link", err)
		}
	}
	if err := unix.Renameat(dfd, tmp, dfd, base); err != nil {
		return fail("rename", err)
	}
	return closeFD(fd, path)
}

func closeFD(fd int, path string) error {
	if err := unix.Close(fd); err != nil {
		return &fs.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}

// dirLocks holds a mutex per directory for the step between naming a new file and
// renaming it.
var dirLocks sync.Map

func lockDir(dir string) (unlock func()) {
	v, ok := dirLocks.Load(dir)
	if !ok {
		v, _ = dirLocks.LoadOrStore(dir, new(sync.Mutex))
	}
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func procFD(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// Symlink replaces path with a symlink to target, through a named temporary link
// renamed over it.
func Symlink(target, path string) error {
	dir, base := filepath.Split(path)
	dfd, _, err := openDir(dir, nil)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	for range 10 {
		tmp := TempName(base)
		err = unix.Symlinkat(target, dfd, tmp)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "symlink", Path: path, Err: err}
		}
		if err := unix.Renameat(dfd, tmp, dfd, base); err != nil {
			unix.Unlinkat(dfd, tmp, 0)
			return &fs.PathError{Op: "rename", Path: path, Err: err}
		}
		return nil
	}
	return &fs.PathError{Op: "symlink", Path: path, Err: err}
}

// openDir opens dir for the *at calls, checking it against want. With want set it
// returns the directory's device too (the file system a file made in it is on),
// else devUnknown.
func openDir(dir string, want *DirID) (dfd int, dev uint64, err error) {
	dfd, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, devUnknown, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	if want == nil {
		return dfd, devUnknown, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		unix.Close(dfd)
		return -1, devUnknown, &fs.PathError{Op: "stat", Path: dir, Err: err}
	}
	if (DirID{st.Dev, st.Ino}) != *want {
		unix.Close(dfd)
		return -1, devUnknown, fmt.Errorf("%s: %w; not writing", filepath.Clean(dir), ErrDirChanged)
	}
	return dfd, st.Dev, nil
}

// noTmpfile forces the named fallback, for tests of file systems without O_TMPFILE.
var noTmpfile = false

// create opens a new file in the directory dfd: unnamed where the file system
// allows it, else under a fresh temporary name, returned as tmp.
func create(dfd int, dir, base string) (fd int, tmp string, err error) {
	if !noTmpfile {
		fd, err = unix.Openat(dfd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
		switch err {
		case nil:
			return fd, "", nil
		case unix.EOPNOTSUPP, unix.EISDIR, unix.EINVAL: // no O_TMPFILE here
		default:
			return -1, "", &fs.PathError{Op: "create", Path: filepath.Join(dir, base), Err: err}
		}
	}
	for range 10 { // a name clash is unlikely; a few tries make it impossible in practice
		tmp = TempName(base)
		fd, err = unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NOFOLLOW, 0o600)
		if err != unix.EEXIST {
			break
		}
	}
	if err != nil {
		return -1, "", &fs.PathError{Op: "create", Path: filepath.Join(dir, tmp), Err: err}
	}
	return fd, tmp, nil
}

// link names the unnamed file fd in the directory dfd with a fresh temporary name.
func link(fd, dfd int, base string) (string, error) {
	var err error
	for range 10 {
		tmp := TempName(base)
		if err = linkAs(fd, dfd, tmp); err != unix.EEXIST {
			return tmp, err
		}
	}
	return "", err
}

// linkViaProc is set once linking by the descriptor itself (AT_EMPTY_PATH) was
// refused and linking by its /proc link worked: from then on, only the latter.
var linkViaProc atomic.Bool

// linkAs names the unnamed file fd name in the directory dfd; EEXIST when taken.
// It links by the descriptor itself, which before Linux 6.10 needs
// CAP_DAC_READ_SEARCH (root has it) and, refused, answers ENOENT; else by its link
// in /proc, a longer path lookup.
func linkAs(fd, dfd int, name string) error {
	if !linkViaProc.Load() {
		err := unix.Linkat(fd, "", dfd, name, unix.AT_EMPTY_PATH)
		if err != unix.ENOENT {
			return err
		}
	}
	err := unix.Linkat(unix.AT_FDCWD, procFD(fd), dfd, name, unix.AT_SYMLINK_FOLLOW)
	if err == nil {
		linkViaProc.Store(true)
	}
	return err
}

// fill gives the open new file fd its content, owner and mode.
func fill(fd int, content string, o Options) error {
	b := unsafe.Slice(unsafe.StringData(content), len(content))
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	if o.UID != -1 || o.GID != -1 {
		if err := unix.Fchown(fd, o.UID, o.GID); err != nil {
			return err
		}
	}
	return unix.Fchmod(fd, o.Mode)
}

// Chmod sets path's permission bits without following a symlink: a path that has
// become a symlink since it was checked is refused (ELOOP), never its target changed.
// dir, when set, is the directory the check looked in, as for Write.
func Chmod(path string, mode uint32, dir *DirID) error {
	d, base := filepath.Split(path)
	dfd, _, err := openDir(d, dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "chmod", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "chmod", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return &fs.PathError{Op: "chmod", Path: path, Err: unix.ELOOP}
	}
	// A descriptor opened with O_PATH takes no fchmod; its /proc link does.
	if err := unix.Chmod(procFD(fd), mode); err != nil {
		return &fs.PathError{Op: "chmod", Path: path, Err: err}
	}
	return nil
}

// Lchown sets path's owner and group (-1 leaves one), never following a symlink,
// in the directory dir when set, as for Write.
func Lchown(path string, uid, gid int, dir *DirID) error {
	d, base := filepath.Split(path)
	dfd, _, err := openDir(d, dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Fchownat(dfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "lchown", Path: path, Err: err}
	}
	return nil
}
