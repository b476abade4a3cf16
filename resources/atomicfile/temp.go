package atomicfile

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A temporary name is hidden and ends in .tmp, so that the globs programs read their
// configuration directories with (*.conf, *.list, run-parts, cron.d) never take it:
// .BASE.mgmt-puppet-RANDOM.tmp, BASE cut to keep the name within NAME_MAX.
const (
	tempMark = ".mgmt-puppet-"
	maxBase  = 255 - len(tempMark) - 12 - len(".tmp") - 1
)

var tempRE = regexp.MustCompile(`^\..*\.mgmt-puppet-[A-Z2-7]{12}\.tmp$`)

// TempName is a fresh temporary name for a file about to be renamed to base.
func TempName(base string) string {
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	return "." + base + tempMark + rand.Text()[:12] + ".tmp"
}

// IsTemp reports whether name is a temporary name of this program.
func IsTemp(name string) bool { return tempRE.MatchString(name) }

var (
	started = time.Now()
	swept   sync.Map // directory -> *sweep
)

type sweep struct {
	once    sync.Once
	removed []string
}

// Sweep removes from dir, once per process, the temporary files this program left
// there when it was killed between naming a new file and renaming it: names that
// IsTemp matches, changed before this process started (so never the file of a write
// in progress in another process). It returns the paths removed to its first caller
// only; later callers wait for the first to finish and get nil. Errors (a missing or
// unreadable directory) leave the sweep for nobody: there is nothing it could do.
func Sweep(dir string) []string {
	v, ok := swept.Load(dir)
	if !ok {
		v, _ = swept.LoadOrStore(dir, new(sweep))
	}
	s := v.(*sweep)
	first := false
	s.once.Do(func() {
		first = true
		s.removed = sweepDir(dir)
	})
	if !first {
		return nil
	}
	return s.removed
}

func sweepDir(dir string) []string {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	var removed []string
	for _, n := range names {
		if !IsTemp(n) {
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(int(f.Fd()), n, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		if time.Unix(st.Ctim.Unix()).After(started) {
			continue
		}
		if unix.Unlinkat(int(f.Fd()), n, 0) == nil {
			removed = append(removed, filepath.Join(dir, n))
		}
	}
	return removed
}
