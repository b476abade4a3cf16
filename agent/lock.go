package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Disabled returns the reason `puppet agent --disable` gave, and whether the
// agent is disabled (agent_disabled.lock exists).
func Disabled(file string) (reason string, disabled bool, err error) {
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	var lock struct {
		Message string `json:"disabled_message"`
	}
	if json.Unmarshal(data, &lock) != nil || lock.Message == "" {
		return "reason not specified", true, nil
	}
	return lock.Message, true, nil
}

// Pidlock is a file holding the PID of the process that holds it, as Puppet's
// Pidlock writes it: agent_catalog_run.lock while a catalog is applied, the
// daemon's pidfile while it runs.
type Pidlock struct{ file string }

// ErrLocked says another agent's run holds the lock.
var ErrLocked = errors.New("a run is in progress")

// LockRun takes the run lock, as Puppet's Pidlock: created exclusively; a lock
// whose process is gone, or is no Puppet agent, is stale and taken over. The
// error wraps ErrLocked when a live agent holds it.
func LockRun(file string) (*Pidlock, error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, err
	}
	for try := 0; try < 2; try++ {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, err = f.WriteString(strconv.Itoa(os.Getpid()))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(file)
				return nil, err
			}
			return &Pidlock{file: file}, nil
		}
		if !os.IsExist(err) {
			return nil, err
		}
		pid, live := holder(file)
		if live {
			return nil, fmt.Errorf("%w (%s exists, pid %d)", ErrLocked, file, pid)
		}
		// Stale, as Puppet judges it: remove and try once more.
		os.Remove(file)
	}
	return nil, fmt.Errorf("%w (%s exists)", ErrLocked, file)
}

// LockPID takes the daemon's pidfile as Puppet's daemon does (Pidlock#lock): as
// LockRun, except that a file holding this process's PID is its own already (a
// daemon that restarted in place, by exec, keeps its PID). An error that is not
// ErrLocked is worded as Ruby's File.open words it.
func LockPID(file string) (*Pidlock, error) {
	if pid, _ := holder(file); pid == os.Getpid() {
		return &Pidlock{file: file}, nil
	}
	l, err := LockRun(file)
	var errno syscall.Errno
	if err != nil && !errors.Is(err, ErrLocked) && errors.As(err, &errno) {
		msg := errno.Error()
		return nil, fmt.Errorf("%s @ rb_sysopen - %s", strings.ToUpper(msg[:1])+msg[1:], file)
	}
	return l, err
}

// Unlock releases the lock if it is still this process's.
func (l *Pidlock) Unlock() error {
	data, err := os.ReadFile(l.file)
	if err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(os.Getpid()) {
		return nil
	}
	return os.Remove(l.file)
}

// holder reads a lock's PID and says whether that process is a live Puppet agent:
// Puppet's Pidlock counts a lock whose process runs something else as stale (a
// PID reused after a crash).
func holder(file string) (int, bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return pid, false
	}
	comm, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	cmdline, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err1 != nil || err2 != nil {
		return pid, true // cannot tell: count it live, as the safer guess
	}
	return pid, isPuppet(strings.TrimSpace(string(comm)), strings.ReplaceAll(string(cmdline), "\x00", " "))
}

// puppetName is Pidlock's pattern of a Puppet process's name.
var puppetName = regexp.MustCompile(`puppet(-.*)?$`)

// isPuppet is Pidlock's test of the holder (ps's comm and args): Ruby running
// puppet, or a program whose name ends in puppet or puppet-something (the
// kernel's comm of mgmt-puppet is "mgmt-puppet").
func isPuppet(comm, args string) bool {
	return strings.Contains(comm, "ruby") && strings.Contains(args, "puppet") || puppetName.MatchString(comm)
}

// Disable writes agent_disabled.lock as `puppet agent --disable msg` does (JSON,
// created only if absent: a lock already there keeps its message); false when it
// was there already.
func Disable(file, msg string) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return false, err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if os.IsExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	data, err := json.Marshal(map[string]string{"disabled_message": msg})
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return false, err
	}
	return true, nil
}

// Enable removes agent_disabled.lock, as `puppet agent --enable`.
func Enable(file string) error {
	if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
