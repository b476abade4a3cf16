package resources

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// accounts is what /etc/passwd, /etc/group and /etc/shadow say, read under a root
// ("" or "/" for the system itself).
type accounts struct {
	users   map[string]passwdEntry
	groups  map[string]groupEntry // by name
	byGID   map[int]string        // group name by gid, the first one
	shadow  map[string]string     // password hash by user
	members map[string][]string   // supplementary groups by user, sorted
}

type passwdEntry struct {
	uid, gid           int
	gecos, home, shell string
}

type groupEntry struct {
	gid     int
	members []string
}

// accountFiles are the files users and groups live in, for watches.
var accountFiles = []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"}

// readAccounts reads the account files, holding the shadow tools' lock (glibc's
// lckpwdf, which useradd, userdel and friends hold while they change the files):
// so a change made by one of them is seen whole, never half done (userdel writes
// /etc/passwd before /etc/group).
func readAccounts(root string) (*accounts, error) {
	defer pwdLock(root)()
	a := &accounts{users: map[string]passwdEntry{}, groups: map[string]groupEntry{}, byGID: map[int]string{},
		shadow: map[string]string{}, members: map[string][]string{}}
	if err := eachEntry(root, "/etc/passwd", 7, func(f []string) {
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 == nil && err2 == nil {
			a.users[f[0]] = passwdEntry{uid: uid, gid: gid, gecos: f[4], home: f[5], shell: f[6]}
		}
	}); err != nil {
		return nil, err
	}
	if err := eachEntry(root, "/etc/group", 4, func(f []string) {
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			return
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		a.groups[f[0]] = groupEntry{gid: gid, members: members}
		if _, ok := a.byGID[gid]; !ok {
			a.byGID[gid] = f[0]
		}
		for _, m := range members {
			a.members[m] = append(a.members[m], f[0])
		}
	}); err != nil {
		return nil, err
	}
	for _, groups := range a.members {
		sort.Strings(groups)
	}
	err := eachEntry(root, "/etc/shadow", 2, func(f []string) { a.shadow[f[0]] = f[1] })
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return a, nil
}

// pwdLock takes the lock lckpwdf takes, a write lock on /etc/.pwd.lock, waiting
// at most 15 s as lckpwdf does; it returns the unlock. When the lock cannot be
// had, the files are read without it.
func pwdLock(root string) (unlock func()) {
	f, err := os.OpenFile(filepath.Join(root, "/etc/.pwd.lock"), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return func() {}
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err = unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
		if err == nil || time.Now().After(deadline) || !(errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES)) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		f.Close()
		return func() {}
	}
	return func() { f.Close() } // closing the file drops the lock
}

// eachEntry calls fn with the colon-separated fields of each line of file under
// root that has at least n fields.
func eachEntry(root, file string, n int, fn func([]string)) error {
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-") {
			continue
		}
		if f := strings.Split(line, ":"); len(f) >= n {
			fn(f)
		}
	}
	return sc.Err()
}

// gid resolves a group name or number; ok is false for an unknown name.
func (a *accounts) gid(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, true
	}
	g, ok := a.groups[s]
	return g.gid, ok
}

// runTool runs a shadow tool (useradd, usermod, groupadd...), with --root when root
// is set, and fails as Puppet's execution does.
func runTool(ctx context.Context, root, tool string, args ...string) error {
	if root != "" && root != "/" {
		args = append([]string{"--root", root}, args...)
	}
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	path := tool
	if p, lookErr := exec.LookPath(tool); lookErr == nil {
		path = p
	}
	msg := strings.TrimSpace(string(out))
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("Execution of '%s %s' returned %d: %s", path, strings.Join(args, " "), ee.ExitCode(), msg)
	}
	return fmt.Errorf("Execution of '%s %s' failed: %v", path, strings.Join(args, " "), err)
}

// quoteShow prints a value as Puppet's change messages do: strings quoted.
func quoteShow(s string) string { return engine.PuppetString(s) }

// changed is Puppet's property change message.
func changed(property, is, should string) string {
	return property + " changed " + is + " to " + should
}
