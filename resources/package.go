package resources

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Package is Puppet's package type with the apt provider (Debian). Its state is
// read from dpkg's status file, which is also watched; packages that become ready
// together are installed by one apt-get call (aptQueue).
type Package struct {
	Name string
	// Ensure is present, absent, purged, latest or a version.
	Ensure         string
	InstallOptions []string
	ConfigFiles    string // keep (Puppet's default) or replace

	h engine.Handle
	pathWatch
}

var (
	_ engine.Resource  = (*Package)(nil)
	_ engine.Refresher = (*Package)(nil)
)

// dpkgStatus is dpkg's database of installed packages.
var dpkgStatus = "/var/lib/dpkg/status"

// Package ensure values.
const (
	pkgPresent = "present"
	pkgAbsent  = "absent"
	pkgPurged  = "purged"
	pkgLatest  = "latest"
)

var debianName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$`)

// Validate checks the name and the values.
func (p *Package) Validate() error {
	if !debianName.MatchString(p.Name) {
		return fmt.Errorf("invalid Debian package name %q", p.Name)
	}
	if p.Ensure == "" || strings.ContainsAny(p.Ensure, " \n") {
		return fmt.Errorf("invalid ensure %q", p.Ensure)
	}
	if p.ConfigFiles != "" && p.ConfigFiles != "keep" && p.ConfigFiles != "replace" {
		return fmt.Errorf("configfiles %q: want keep or replace", p.ConfigFiles)
	}
	return nil
}

// ProviderName names the provider, as reports do.
func (p *Package) ProviderName() string { return "apt" }

// Init keeps the handle.
func (p *Package) Init(h engine.Handle) error {
	p.h = h
	return nil
}

// Watch watches dpkg's status file: every install or removal rewrites it.
func (p *Package) Watch(ctx context.Context) error { return p.watch(ctx, dpkgStatus, p.h.Poke) }

// Close ends the watch.
func (p *Package) Close() error {
	p.close()
	return nil
}

// Refresh does nothing: Puppet's package type reinstalls on refresh only with a
// reinstallable provider, which apt is not, but it has a refresh method, so Puppet
// says it "Triggered 'refresh'" when an event reaches a package; so does the engine.
func (p *Package) Refresh(context.Context, bool) error { return nil }

// CheckApply compares the installed version with ensure and, with apply, runs
// apt-get.
func (p *Package) CheckApply(ctx context.Context, apply bool) (bool, error) {
	waitDpkgIdle(ctx, yielder(p.h))
	is, err := dpkgState(p.Name)
	if err != nil {
		return false, err
	}
	c, err := p.ensureChange(ctx, is, apply)
	if err != nil || c == nil {
		return c == nil && err == nil, err
	}
	p.h.Change(*c)
	if !apply {
		return false, nil
	}
	switch p.Ensure {
	case pkgAbsent:
		err = apt.run(ctx, "-y", "-q", "remove", p.Name)
	case pkgPurged:
		err = apt.run(ctx, "-y", "-q", "remove", "--purge", p.Name)
	default:
		spec := p.Name
		if p.Ensure != pkgPresent && p.Ensure != pkgLatest {
			spec += "=" + p.Ensure
		}
		err = apt.install(ctx, p.installFlags(), spec)
		if err != nil && p.Ensure != pkgPresent {
			// The type's latest and version values wrap the provider's failure.
			err = fmt.Errorf("Could not update: %w", err)
		}
	}
	if err != nil {
		return false, &engine.ChangeError{Property: "ensure", From: c.Previous, To: c.Desired, Err: err}
	}
	return false, nil
}

// ensureChange is the change of ensure that the package needs, found installed as
// is, or nil when it is in sync. As Puppet's package type: the desired value is
// ensure itself ('latest' too, in the report's event), latest is looked up with
// apt only for a package that is installed (one that is not is out of sync
// anyway), and the version found then is what the lines print: "current_value
// '1.0', should be '1.1' (noop)", "ensure changed '1.0' to '1.1'".
func (p *Package) ensureChange(ctx context.Context, is string, apply bool) (*engine.Change, error) {
	installed := is != pkgAbsent && is != pkgPurged
	should := p.Ensure
	switch p.Ensure {
	case pkgPresent:
		if installed {
			return nil, nil
		}
	case pkgAbsent:
		if !installed {
			return nil, nil
		}
	case pkgPurged:
		if is == pkgPurged {
			return nil, nil
		}
	case pkgLatest:
		if installed {
			latest, err := aptCandidate(ctx, p.Name)
			if err != nil {
				return nil, fmt.Errorf("Could not get latest version: %w", err)
			}
			if is == latest {
				return nil, nil
			}
			should = latest
		}
	default: // a version
		if is == p.Ensure {
			return nil, nil
		}
	}
	c := &engine.Change{Property: "ensure", Previous: is, Desired: p.Ensure, Message: packageChange(is, should)}
	if !apply && should != p.Ensure {
		c.Message = fmt.Sprintf("current_value '%s', should be '%s' (noop)", is, should)
	}
	return c, nil
}

// installFlags are the options of the apt-get call before install, as Puppet's
// apt provider builds them.
func (p *Package) installFlags() []string {
	flags := []string{"-q", "-y", "-o", "DPkg::Options::=--force-confold"}
	if p.ConfigFiles == "replace" {
		flags[3] = "DPkg::Options::=--force-confnew"
	}
	if p.Ensure != pkgPresent && p.Ensure != pkgLatest {
		flags = append(flags, "--force-yes")
	}
	return append(flags, p.InstallOptions...)
}

// packageChange is Puppet's message for a package's ensure change.
func packageChange(is, should string) string {
	switch {
	case should == pkgPurged:
		return "purged"
	case (is == pkgAbsent || is == pkgPurged) && should != pkgAbsent:
		return "created"
	case should == pkgAbsent:
		return "removed"
	}
	return "ensure changed '" + is + "' to '" + should + "'"
}

// dpkgLocks are the locks apt and dpkg hold while they change what is installed.
var dpkgLocks = []string{"/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"}

// dpkgBusyWait is the longest checks wait for another program's apt or dpkg: one
// wait shared by all of them, however many packages the catalog has.
var dpkgBusyWait = 10 * time.Minute

// dpkgBusy is the wait for another program's apt or dpkg that checks share.
var dpkgBusy struct {
	mu    sync.Mutex
	until time.Time // checks wait no later than this while the locks stay held; zero when seen free
}

// waitDpkgIdle waits while a program other than our own apt-get holds one of
// dpkg's locks (an operator's apt-get remove, unattended upgrades): what dpkg's
// status says meanwhile is half done, and an apt-get would fail on the lock. Its
// change of the status file is what woke the check; Puppet's next run would come
// after it. All checks share one wait of dpkgBusyWait from the first that finds
// the locks held, until one finds them free: an apt prompt left open delays a
// catalog's packages by that once, not once each. The wait goes through yield
// (the engine's Yield, nil without one), so that the check's parallelism slot
// goes to other resources meanwhile.
func waitDpkgIdle(ctx context.Context, yield func(wait func())) {
	if !dpkgHeldByOther() {
		return
	}
	dpkgBusy.mu.Lock()
	if dpkgBusy.until.IsZero() {
		dpkgBusy.until = time.Now().Add(dpkgBusyWait)
	}
	deadline := dpkgBusy.until
	dpkgBusy.mu.Unlock()
	wait := func() {
		for time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			if !dpkgHeldByOther() {
				return
			}
		}
	}
	if yield == nil {
		wait()
	} else {
		yield(wait)
	}
}

// dpkgHeldByOther reports whether another program holds dpkg's locks while none
// of our apt-get calls runs (with ours running, the lock is ours, or ours fails
// on it: no wait). Locks seen free end the shared wait.
func dpkgHeldByOther() bool {
	held, ours := dpkgLockHeld()
	if !held {
		dpkgBusy.mu.Lock()
		dpkgBusy.until = time.Time{}
		dpkgBusy.mu.Unlock()
	}
	return held && !ours
}

// dpkgLockHeld reports whether a lock of dpkgLocks is held, and whether one of
// our apt-get calls runs.
func dpkgLockHeld() (held, ours bool) {
	ours = apt.running.Load()
	for _, path := range dpkgLocks {
		if writeLocked(path) {
			return true, ours
		}
	}
	return false, ours
}

// writeLocked reports whether a process holds an fcntl lock, as apt and dpkg take
// them, on path.
func writeLocked(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	l := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &l); err != nil {
		return false
	}
	return l.Type != unix.F_UNLCK
}

// dpkgState is the package's state as Puppet's dpkg query tells it: the installed
// version, absent (removed, config files left, or half installed) or purged.
func dpkgState(name string) (string, error) {
	data, err := os.ReadFile(dpkgStatus)
	if err != nil {
		return "", err
	}
	state := pkgPurged
	for _, para := range bytes.Split(data, []byte("\n\n")) {
		fields := dpkgFields(para)
		pkg := fields["Package"]
		if arch := fields["Architecture"]; pkg != name && pkg+":"+arch != name {
			continue
		}
		switch status := fields["Status"]; {
		case strings.HasSuffix(status, " installed"):
			return fields["Version"], nil
		case strings.HasSuffix(status, " not-installed"):
		default:
			state = pkgAbsent
		}
	}
	return state, nil
}

// dpkgFields reads the single-line fields of one status paragraph.
func dpkgFields(para []byte) map[string]string {
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(para))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			switch k {
			case "Package", "Status", "Version", "Architecture":
				fields[k] = strings.TrimSpace(v)
			}
		}
	}
	return fields
}

// aptCandidate is the version apt would install (apt-cache policy), as the apt
// provider's latest reads it. A variable for tests.
var aptCandidate = func(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "policy", name).Output()
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`Candidate:\s+(\S+)\s`).FindSubmatch(out)
	if m == nil || string(m[1]) == "(none)" {
		return "", fmt.Errorf("no candidate for %s", name)
	}
	return string(m[1]), nil
}

// aptQueue runs apt-get one call at a time (dpkg takes a lock anyway) and merges
// the installs that are waiting at once, with the same options, into one call. A
// merged call that fails is retried package by package, so that each package
// gets its own error.
type aptQueue struct {
	mu      sync.Mutex  // held while apt-get runs
	running atomic.Bool // an apt-get of ours runs
	pending sync.Mutex
	waiting map[string][]*aptRequest // by options
}

type aptRequest struct {
	spec string
	done chan error
}

var apt = &aptQueue{waiting: map[string][]*aptRequest{}}

// aptGather is how long an install waits for others that become ready with it.
const aptGather = 20 * time.Millisecond

func (q *aptQueue) install(ctx context.Context, flags []string, spec string) error {
	key := strings.Join(flags, "\x00")
	req := &aptRequest{spec: spec, done: make(chan error, 1)}
	q.pending.Lock()
	q.waiting[key] = append(q.waiting[key], req)
	q.pending.Unlock()
	time.Sleep(aptGather)
	q.mu.Lock()
	q.pending.Lock()
	batch := q.waiting[key]
	delete(q.waiting, key)
	q.pending.Unlock()
	if len(batch) > 0 { // else another request's call took this one
		q.runBatch(ctx, flags, batch)
	}
	q.mu.Unlock()
	return <-req.done
}

func (q *aptQueue) runBatch(ctx context.Context, flags []string, batch []*aptRequest) {
	specs := make([]string, len(batch))
	for i, r := range batch {
		specs[i] = r.spec
	}
	err := aptGet(ctx, append(append(append([]string{}, flags...), "install"), specs...)...)
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			r.done <- aptGet(ctx, append(append(append([]string{}, flags...), "install"), r.spec)...)
		}
		return
	}
	for _, r := range batch {
		r.done <- err
	}
}

// run runs one apt-get call, after any running one.
func (q *aptQueue) run(ctx context.Context, args ...string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return aptGet(ctx, args...)
}

func aptGet(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "/usr/bin/apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	apt.running.Store(true)
	out, err := cmd.CombinedOutput()
	apt.running.Store(false)
	if err == nil {
		return nil
	}
	var code = -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return fmt.Errorf("Execution of '/usr/bin/apt-get %s' returned %d: %s", strings.Join(args, " "), code, strings.TrimSpace(string(out)))
}
