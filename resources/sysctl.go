package resources

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Sysctl is duritong-sysctl's sysctl type with its parsed provider: one
// name=value record of a sysctl configuration file (only the file: the running
// kernel is Sysctl_runtime's).
type Sysctl struct {
	Name   string
	Absent bool
	Val    *string // nil leaves the value alone
	Target string  // absolute; Puppet's default is /etc/sysctl.conf
	// Sensitive names the properties whose values logs must redact.
	Sensitive map[string]bool

	now func() time.Time // the header's time stamp; nil means time.Now
	h   engine.Handle
	pathWatch
}

var (
	_ engine.Resource = (*Sysctl)(nil)
	_ engine.Locker   = (*Sysctl)(nil)
)

// sysctlRecord is one line of a sysctl file: a record, or text kept as it is.
type sysctlRecord struct {
	text      string // the line, when not a record
	record    bool
	name, val string
	hasVal    bool
}

// The parsed provider's lines: comments and blank lines are text, anything else a
// record whose fields are split by its separator.
var (
	sysctlComment   = regexp.MustCompile(`^\s*#`)
	sysctlBlank     = regexp.MustCompile(`^\s*$`)
	sysctlSeparator = regexp.MustCompile(`\s*=\s*`)
)

func parseSysctlLine(line string) sysctlRecord {
	if sysctlComment.MatchString(line) || sysctlBlank.MatchString(line) {
		return sysctlRecord{text: line}
	}
	// Ruby's split: trailing empty fields go, fields past the two are dropped.
	f := sysctlSeparator.Split(line, -1)
	for len(f) > 0 && f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	r := sysctlRecord{record: true}
	if len(f) > 0 {
		r.name = f[0]
	}
	if len(f) > 1 {
		r.val, r.hasVal = f[1], true
	}
	return r
}

func (r sysctlRecord) line() (string, error) {
	if !r.record {
		return r.text, nil
	}
	return r.name + "=" + r.val, nil
}

// Validate checks the target.
func (s *Sysctl) Validate() error {
	if !strings.HasPrefix(s.Target, "/") {
		return fmt.Errorf("target must be an absolute path, not '%s'", s.Target)
	}
	return nil
}

// ProviderName names the provider, as reports do.
func (s *Sysctl) ProviderName() string { return "parsed" }

// Locks serialises the records sharing a target.
func (s *Sysctl) Locks() []string { return []string{targetLock(s.Target)} }

// Init keeps the handle.
func (s *Sysctl) Init(h engine.Handle) error {
	s.h = h
	return nil
}

// Watch watches the target file.
func (s *Sysctl) Watch(ctx context.Context) error { return s.watch(ctx, s.Target, s.h.Poke) }

// Close ends the watch.
func (s *Sysctl) Close() error {
	s.close()
	return nil
}

// CheckApply reads the target and compares the record named Name: ensure first,
// then, when it exists, val.
func (s *Sysctl) CheckApply(ctx context.Context, apply bool) (bool, error) {
	defer lockTarget(s.Target)()
	recs, dir, err := readRecords(s.Target, parseSysctlLine)
	if err != nil {
		return false, err
	}
	i := -1
	for j, r := range recs {
		if r.record && r.name == s.Name {
			i = j // the last one, as the prefetch keeps
		}
	}
	switch {
	case i < 0 && s.Absent:
		return true, nil
	case i < 0:
		s.h.Change(ensureChange(true))
		if !apply {
			return false, nil
		}
		r := sysctlRecord{record: true, name: s.Name}
		if s.Val != nil {
			r.val, r.hasVal = *s.Val, true
		}
		return false, writeFlatRecords(s.Target, dir, append(recs, r), s.now)
	case s.Absent:
		s.h.Change(ensureChange(false))
		if !apply {
			return false, nil
		}
		return false, writeFlatRecords(s.Target, dir, append(recs[:i:i], recs[i+1:]...), s.now)
	}
	r := &recs[i]
	if s.Val == nil || r.hasVal && r.val == *s.Val {
		return true, nil
	}
	is := str(r.val)
	if !r.hasVal {
		is = shown{raw: "absent", text: "'absent'", absent: true}
	}
	s.h.Change(propertyChange("val", is, str(*s.Val), s.Sensitive["val"], apply))
	if !apply {
		return false, nil
	}
	r.val, r.hasVal = *s.Val, true
	return false, writeFlatRecords(s.Target, dir, recs, s.now)
}

// SysctlRuntime is duritong-sysctl's sysctl_runtime type: a kernel parameter's
// running value, read from /proc/sys and set with the sysctl command.
type SysctlRuntime struct {
	Name      string
	Val       *string // nil leaves it alone
	Sensitive bool

	h engine.Handle
}

var _ engine.Resource = (*SysctlRuntime)(nil)

// SysctlCommand is where the provider finds sysctl.
func SysctlCommand() (string, bool) { return CommandInPath("sysctl") }

// CommandInPath looks a provider's command up as Puppet does on Debian.
func CommandInPath(name string) (string, bool) {
	return lookPath(name, strings.Join(searchPath, ":"))
}

// searchPath is the path Puppet's commands are looked up in on Debian.
var searchPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// Validate accepts everything.
func (s *SysctlRuntime) Validate() error { return nil }

// ProviderName names the provider, as reports do.
func (s *SysctlRuntime) ProviderName() string { return "sysctl_runtime" }

// Init keeps the handle.
func (s *SysctlRuntime) Init(h engine.Handle) error {
	s.h = h
	return nil
}

// Watch has nothing to watch: /proc/sys gives no events.
func (s *SysctlRuntime) Watch(ctx context.Context) error { return nil }

var _ engine.Unwatched = (*SysctlRuntime)(nil)

// Unwatched says that the kernel's value is read only when evaluated.
func (s *SysctlRuntime) Unwatched() {}

// Close does nothing.
func (s *SysctlRuntime) Close() error { return nil }

// CheckApply compares the running value with val, as `sysctl -a` prints it, and
// sets it with `sysctl NAME=VALUE`.
func (s *SysctlRuntime) CheckApply(ctx context.Context, apply bool) (bool, error) {
	is, err := sysctlValue(ctx, s.Name)
	if err != nil {
		return false, err
	}
	if s.Val == nil || is == *s.Val {
		return true, nil
	}
	c := propertyChange("val", str(is), str(*s.Val), s.Sensitive, apply)
	s.h.Change(c)
	if !apply {
		return false, nil
	}
	cmd, ok := SysctlCommand()
	if !ok {
		return false, &engine.ChangeError{Property: "val", From: c.Previous, To: c.Desired, Err: errors.New("Could not find a suitable provider for sysctl_runtime")}
	}
	arg := s.Name + "=" + *s.Val
	if out, err := exec.CommandContext(ctx, cmd, arg).CombinedOutput(); err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return false, &engine.ChangeError{Property: "val", From: c.Previous, To: c.Desired,
			Err: fmt.Errorf("Execution of '%s %s' returned %d: %s", cmd, arg, code, strings.TrimSpace(string(out)))}
	}
	return false, nil
}

// sysctlValue is a parameter's value as `sysctl -a` prints it: its /proc/sys file
// without the newline. A parameter that is not there is Puppet's prefetch error.
func sysctlValue(ctx context.Context, name string) (string, error) {
	data, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err == nil {
		return strings.TrimRight(string(data), "\n"), nil
	}
	// Names with dots of their own (an interface named eth0.100) are in sysctl's
	// own listing.
	if cmd, ok := SysctlCommand(); ok {
		out, err := exec.CommandContext(ctx, cmd, "-a").Output()
		if err == nil {
			for _, l := range strings.Split(string(out), "\n") {
				k, v, ok := strings.Cut(l, " = ")
				if ok && k == name {
					return v, nil
				}
			}
		}
	}
	return "", fmt.Errorf("sysctl parameter %s wasn't found on this system", name)
}
