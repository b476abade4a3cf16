package resources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/systemd"
)

// Service is Puppet's service type with the provider Puppet 7 picks on Debian.
// Where systemd is PID 1 that is the systemd provider, driven here over D-Bus: the
// unit's state is read from systemd's properties, changed with StartUnit,
// StopUnit, RestartUnit and the unit-file calls, and watched through systemd's
// PropertiesChanged signals. Elsewhere (a container or chroot without systemd,
// a host booted with sysvinit) Puppet's systemd provider is not suitable and its
// debian provider runs instead: `service NAME status`, invoke-rc.d's query and
// the rc links, the init script, update-rc.d (debianService); nothing is watched.
type Service struct {
	Name   string
	Ensure string // running, stopped, or empty (unmanaged)
	Enable string // true, false, mask, or empty (unmanaged)
	// HasRestart (Puppet's default true) restarts with RestartUnit; otherwise a
	// refresh stops and starts.
	HasRestart bool
	// Start, Stop, Restart and Status are commands that replace systemd's own
	// actions (Status: exit 0 means running).
	Start, Stop, Restart, Status string

	h        engine.Handle
	started  bool // this evaluation started the service: pending refreshes are void
	unwatch  func()
	stopWait func() bool
	starts   []time.Time // this resource's recent starts and restarts of its unit (startLimit)
}

var _ engine.Resource = (*Service)(nil)

// Validate checks the values.
func (s *Service) Validate() error {
	switch {
	case s.Name == "" || strings.ContainsAny(s.Name, " /\n"):
		return fmt.Errorf("invalid service name %q", s.Name)
	case s.Ensure != "" && s.Ensure != "running" && s.Ensure != "stopped":
		return fmt.Errorf("ensure %q: want running or stopped", s.Ensure)
	case s.Enable != "" && s.Enable != "true" && s.Enable != "false" && s.Enable != "mask":
		return fmt.Errorf("enable %q: want true, false or mask", s.Enable)
	case s.Enable == "mask" && !systemdIsInit():
		// Puppet refuses the catalog: the debian provider is not maskable.
		return fmt.Errorf("Parameter enable failed: Provider debian must have features 'maskable' to set 'enable' to 'mask'")
	}
	return nil
}

// procOneComm names PID 1's program; a variable for tests.
var procOneComm = "/proc/1/comm"

// systemdIsInit is the confine of Puppet 7's systemd provider (and, negated, of
// its debian provider): /proc/1/comm names systemd.
func systemdIsInit() bool {
	comm, err := os.ReadFile(procOneComm)
	return err == nil && bytes.Contains(comm, []byte("systemd"))
}

// ProviderName names the provider, as reports do.
func (s *Service) ProviderName() string {
	if systemdIsInit() {
		return "systemd"
	}
	return "debian"
}

func (s *Service) unit() string {
	if strings.Contains(s.Name, ".") {
		return s.Name
	}
	return s.Name + ".service"
}

// Init keeps the handle.
func (s *Service) Init(h engine.Handle) error {
	s.h = h
	return nil
}

// Watch subscribes to the unit's property changes. Without systemd there is
// nothing to subscribe to (init scripts give no events).
func (s *Service) Watch(ctx context.Context) error {
	if !systemdIsInit() {
		return fmt.Errorf("systemd is not running: the debian provider gives no events")
	}
	m, err := systemd.Default()
	if err != nil {
		return err
	}
	s.unwatch = m.Watch(s.unit(), s.h.Poke)
	s.stopWait = context.AfterFunc(ctx, s.unwatch)
	return nil
}

// Close ends the watch.
func (s *Service) Close() error {
	if s.stopWait != nil {
		s.stopWait()
	}
	if s.unwatch != nil {
		s.unwatch()
	}
	return nil
}

// RefreshInvalidated implements engine.RefreshInvalidator: a service this
// evaluation started does not restart for the events it had pending, as Puppet's
// service_started event invalidates them.
func (s *Service) RefreshInvalidated() bool { return s.started }

// unitState is what systemd says of the unit.
type unitState struct {
	active, sub, fileState, load string
	needReload                   bool
}

// restarting: systemd waits to start the unit again after it failed (Restart=);
// it is not on its way anywhere, and systemctl is-active says it is not active.
func (st unitState) restarting() bool { return st.active == "activating" && st.sub == "auto-restart" }

// settleTime bounds how long a check waits for a unit that is starting or
// stopping to get there; settleStep is how often it looks meanwhile.
const (
	settleTime = 90 * time.Second
	settleStep = 50 * time.Millisecond
)

// state reads the unit's properties. A unit on its way (activating, deactivating)
// is waited for, so that a repair never cancels a start or stop under way, such as
// an operator's systemctl stop.
func (s *Service) state(ctx context.Context, m *systemd.Manager) (unitState, error) {
	deadline := time.Now().Add(settleTime)
	for {
		props, err := m.Conn.GetUnitPropertiesContext(ctx, s.unit())
		if err != nil {
			return unitState{}, err
		}
		str := func(k string) string { v, _ := props[k].(string); return v }
		if id := str("Id"); id != "" {
			m.Names(s.unit(), id)
		}
		st := unitState{active: str("ActiveState"), sub: str("SubState"), fileState: str("UnitFileState"), load: str("LoadState")}
		st.needReload, _ = props["NeedDaemonReload"].(bool)
		if (st.active != "activating" && st.active != "deactivating") || st.restarting() || time.Now().After(deadline) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return unitState{}, ctx.Err()
		case <-time.After(settleStep):
		}
	}
}

// running is Puppet's status: the status command's exit code, or systemd's
// ActiveState.
func (s *Service) running(ctx context.Context, st unitState) bool {
	if s.Status != "" {
		return exec.CommandContext(ctx, "/bin/sh", "-c", s.Status).Run() == nil
	}
	return st.active == "active" || st.active == "reloading" || st.active == "activating" && !st.restarting()
}

// enabled is the systemd provider's enabled?: masked counts as mask only when mask
// is wanted, indirect as false.
func (s *Service) enabled(st unitState) string {
	switch st.fileState {
	case "enabled", "enabled-runtime", "static", "alias", "generated", "transient", "linked", "linked-runtime":
		return "true"
	case "masked", "masked-runtime":
		if s.Enable == "mask" {
			return "mask"
		}
	}
	return "false"
}

// serviceProvider is what CheckApply and Refresh need of Puppet's provider: the
// state, as the provider's status and enabled? find it, and its actions.
type serviceProvider interface {
	running(ctx context.Context) (bool, error)
	enabled(ctx context.Context) (string, error)
	setRunning(ctx context.Context) error // to s.Ensure
	setEnable(ctx context.Context) error  // to s.Enable
	restart(ctx context.Context) error
}

// provider reads the service's state with the provider Puppet would use here.
func (s *Service) provider(ctx context.Context) (serviceProvider, error) {
	if !systemdIsInit() {
		return debianService{s}, nil
	}
	m, err := systemd.Default()
	if err != nil {
		return nil, fmt.Errorf("cannot reach systemd over D-Bus: %w", err)
	}
	st, err := s.state(ctx, m)
	if err != nil {
		return nil, err
	}
	return &systemdService{s: s, m: m, st: st}, nil
}

// CheckApply compares the service's state with ensure and enable and, with
// apply, changes it as Puppet does: a change of ensure brings enable along
// silently; enable is a change of its own only when ensure was in sync.
func (s *Service) CheckApply(ctx context.Context, apply bool) (bool, error) {
	s.started = false
	p, err := s.provider(ctx)
	if err != nil {
		return false, err
	}
	ok := true
	if s.Ensure != "" {
		running, err := p.running(ctx)
		if err != nil {
			return false, err
		}
		is := "stopped"
		if running {
			is = "running"
		}
		if is != s.Ensure {
			s.h.Change(engine.Change{Property: "ensure", Previous: is, Desired: s.Ensure,
				Message: "ensure changed '" + is + "' to '" + s.Ensure + "'"})
			if apply {
				if err := p.setRunning(ctx); err != nil {
					return false, &engine.ChangeError{Property: "ensure", From: is, To: s.Ensure, Err: err}
				}
				s.started = s.Ensure == "running"
				// Puppet's service ensure syncs enable with it, without an event of
				// its own; the harness then looks at no other property.
				if s.Enable != "" {
					en, err := p.enabled(ctx)
					if err == nil && en != s.Enable {
						err = p.setEnable(ctx)
					}
					if err != nil {
						return false, &engine.ChangeError{Property: "ensure", From: is, To: s.Ensure, Err: err}
					}
				}
			}
			return false, nil
		}
	}
	if s.Enable != "" {
		is, err := p.enabled(ctx)
		if err != nil {
			return false, err
		}
		if is != s.Enable {
			ok = false
			s.h.Change(engine.Change{Property: "enable", Previous: is, Desired: s.Enable,
				Message: "enable changed '" + is + "' to '" + s.Enable + "'"})
			if apply {
				if err := p.setEnable(ctx); err != nil {
					return false, &engine.ChangeError{Property: "enable", From: is, To: s.Enable, Err: err}
				}
			}
		}
	}
	return ok, nil
}

// Refresh restarts the service if it runs (Puppet's service refresh).
func (s *Service) Refresh(ctx context.Context, apply bool) error {
	if !apply {
		return nil
	}
	p, err := s.provider(ctx)
	if err != nil {
		return err
	}
	running, err := p.running(ctx)
	if err != nil || !running {
		return err // Puppet: "Skipping restart; service is not running"
	}
	return p.restart(ctx)
}

// systemdService is Puppet's systemd provider, over D-Bus, with the unit's
// state read once.
type systemdService struct {
	s  *Service
	m  *systemd.Manager
	st unitState
}

func (p *systemdService) running(ctx context.Context) (bool, error) {
	return p.s.running(ctx, p.st), nil
}
func (p *systemdService) enabled(ctx context.Context) (string, error) {
	if p.st.fileState != "generated" {
		return p.s.enabled(p.st), nil
	}
	// A unit systemd generated from an init script: its state is the init script's
	// links, which only systemctl's own is-enabled reads (through
	// systemd-sysv-install), as Puppet's provider asks it.
	out, err := exec.CommandContext(ctx, "systemctl", "is-enabled", "--", p.s.Name).Output()
	output := strings.TrimSpace(string(out))
	var ee *exec.ExitError
	switch {
	case p.s.Enable == "mask" && output == "masked":
		return "mask", nil
	case output == "indirect":
		return "false", nil
	case err == nil:
		return "true", nil
	case !errors.As(err, &ee):
		return "", err
	case output == "":
		return debianService{p.s}.enabled(ctx)
	}
	return "false", nil
}

// setRunning starts or stops the unit. Puppet's provider finds a unit that does
// not exist stopped and disabled like any other, and fails when it would start
// or enable it.
func (p *systemdService) setRunning(ctx context.Context) error {
	if p.s.Ensure == "running" && p.st.load == "not-found" {
		return fmt.Errorf("Could not find the systemd unit %s", p.s.unit())
	}
	return p.s.setRunning(ctx, p.m, p.st)
}

func (p *systemdService) setEnable(ctx context.Context) error {
	if p.s.Enable == "true" && p.st.load == "not-found" {
		return fmt.Errorf("Could not find the systemd unit %s", p.s.unit())
	}
	if p.st.fileState == "generated" {
		// An init script's links: systemctl hands them to update-rc.d.
		action := map[string]string{"true": "enable", "false": "disable", "mask": "mask"}[p.s.Enable]
		if out, err := exec.CommandContext(ctx, "systemctl", action, "--", p.s.Name).CombinedOutput(); err != nil {
			return fmt.Errorf("Could not %s %s: %s", action, p.s.Name, strings.TrimSpace(string(out)))
		}
		return nil
	}
	return p.s.setEnable(ctx, p.m)
}

func (p *systemdService) restart(ctx context.Context) error {
	s, m := p.s, p.m
	if err := s.daemonReload(ctx, m, p.st); err != nil {
		return err
	}
	switch {
	case s.Restart != "":
		return shell(ctx, s.Restart)
	case !s.HasRestart:
		if err := s.stop(ctx, m); err != nil {
			return err
		}
		return s.start(ctx, m)
	}
	if err := s.startLimit(ctx, m); err != nil {
		return err
	}
	return job(ctx, m, "restart", s.unit(), func(ch chan<- string) (int, error) {
		return m.Conn.RestartUnitContext(ctx, s.unit(), "replace", ch)
	})
}

// The debian provider's commands and places; variables for tests.
var sysv = struct {
	service, invokeRC, updateRC, initDir, rcDirs string
	// disableWithToggle is the provider's test for a sysv-rc of at least 2.88,
	// which decides how it disables.
	disableWithToggle string
}{"/usr/sbin/service", "/usr/sbin/invoke-rc.d", "/usr/sbin/update-rc.d", "/etc/init.d", "/etc/rc*.d",
	`dpkg --compare-versions $(dpkg-query -W --showformat '${Version}' sysv-rc) ge 2.88`}

// debianService is Puppet 7.23's debian service provider (init, base), which
// Puppet uses on Debian where systemd is not PID 1. hasstatus is always true here
// (a Service without it has a status command).
type debianService struct{ s *Service }

// running is base's status: the status command's exit code, or `service NAME
// status`'s.
func (p debianService) running(ctx context.Context) (bool, error) {
	if p.s.Status != "" {
		return exec.CommandContext(ctx, "/bin/sh", "-c", p.s.Status).Run() == nil, nil
	}
	err := exec.CommandContext(ctx, sysv.service, p.s.Name, "status").Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return false, err
	}
	return err == nil, nil
}

// enabled is the provider's enabled?: invoke-rc.d's query (104 and 106 mean
// enabled), or when that cannot tell (101, 105) at least four start links.
func (p debianService) enabled(ctx context.Context) (string, error) {
	err := exec.CommandContext(ctx, sysv.invokeRC, "--quiet", "--query", p.s.Name, "start").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return "false", err // exit 0 (nil) is not enabled either
	}
	switch ee.ExitCode() {
	case 104, 106:
		return "true", nil
	case 101, 105:
		links, err := filepath.Glob(filepath.Join(sysv.rcDirs, "S??"+p.s.Name))
		if err == nil && len(links) >= 4 {
			return "true", nil
		}
		return "false", err
	}
	return "false", nil
}

// initScript is where init looks for the script: NAME, then NAME.sh.
func (p debianService) initScript() (string, error) {
	for _, name := range []string{p.s.Name, p.s.Name + ".sh"} {
		path := filepath.Join(sysv.initDir, name)
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("Could not find init script for '%s'", p.s.Name)
}

// command runs the service's own command for action, or the init script's.
func (p debianService) command(ctx context.Context, action, own string) error {
	var err error
	if own != "" {
		err = shell(ctx, own)
	} else {
		script, serr := p.initScript()
		if serr != nil {
			return serr
		}
		err = execute(ctx, script, action)
	}
	if err != nil {
		return fmt.Errorf("Could not %s Service[%s]: %w", action, p.s.Name, err)
	}
	return nil
}

func (p debianService) setRunning(ctx context.Context) error {
	if p.s.Ensure == "running" {
		return p.command(ctx, "start", p.s.Start)
	}
	return p.command(ctx, "stop", p.s.Stop)
}

// restart is the restart command, the script's restart (hasrestart), or stop then
// start.
func (p debianService) restart(ctx context.Context) error {
	if p.s.Restart != "" || p.s.HasRestart {
		return p.command(ctx, "restart", p.s.Restart)
	}
	if err := p.command(ctx, "stop", p.s.Stop); err != nil {
		return err
	}
	return p.command(ctx, "start", p.s.Start)
}

// setEnable runs update-rc.d as the provider does. With sysv-rc older than 2.88,
// or none (Debian 12), it disables with `remove` and `stop 00 1 2 3 4 5 6 .`,
// which today's update-rc.d takes as `defaults`: the links come back, as they do
// with Puppet.
func (p debianService) setEnable(ctx context.Context) error {
	name := p.s.Name
	if p.s.Enable == "true" {
		if err := execute(ctx, sysv.updateRC, "-f", name, "remove"); err != nil {
			return err
		}
		return execute(ctx, sysv.updateRC, name, "defaults")
	}
	if exec.CommandContext(ctx, "/bin/sh", "-c", sysv.disableWithToggle).Run() == nil {
		return execute(ctx, sysv.updateRC, name, "disable")
	}
	if err := execute(ctx, sysv.updateRC, "-f", name, "remove"); err != nil {
		return err
	}
	return execute(ctx, sysv.updateRC, name, "stop", "00", "1", "2", "3", "4", "5", "6", ".")
}

func (s *Service) setRunning(ctx context.Context, m *systemd.Manager, st unitState) error {
	if err := s.daemonReload(ctx, m, st); err != nil {
		return err
	}
	if s.Ensure == "running" {
		return s.start(ctx, m)
	}
	return s.stop(ctx, m)
}

func (s *Service) start(ctx context.Context, m *systemd.Manager) error {
	if s.Enable != "mask" {
		if _, err := m.Conn.UnmaskUnitFilesContext(ctx, []string{s.unit()}, false); err != nil {
			return err
		}
	}
	if s.Start != "" {
		return shell(ctx, s.Start)
	}
	if err := s.startLimit(ctx, m); err != nil {
		return err
	}
	return job(ctx, m, "start", s.unit(), func(ch chan<- string) (int, error) {
		return m.Conn.StartUnitContext(ctx, s.unit(), "replace", ch)
	})
}

func (s *Service) stop(ctx context.Context, m *systemd.Manager) error {
	if s.Stop != "" {
		return shell(ctx, s.Stop)
	}
	return job(ctx, m, "stop", s.unit(), func(ch chan<- string) (int, error) {
		return m.Conn.StopUnitContext(ctx, s.unit(), "replace", ch)
	})
}

func (s *Service) setEnable(ctx context.Context, m *systemd.Manager) error {
	var err error
	switch s.Enable {
	case "true":
		if _, err = m.Conn.UnmaskUnitFilesContext(ctx, []string{s.unit()}, false); err == nil {
			_, _, err = m.Conn.EnableUnitFilesContext(ctx, []string{s.unit()}, false, false)
		}
	case "false":
		_, err = m.Conn.DisableUnitFilesContext(ctx, []string{s.unit()}, false)
	case "mask":
		if _, err = m.Conn.DisableUnitFilesContext(ctx, []string{s.unit()}, false); err == nil {
			_, err = m.Conn.MaskUnitFilesContext(ctx, []string{s.unit()}, false, false)
		}
	}
	if err != nil {
		return err
	}
	return m.Conn.ReloadContext(ctx)
}

// daemonReload reloads systemd when the unit's file changed since it was loaded,
// as Puppet's systemd provider does before it starts or restarts.
func (s *Service) daemonReload(ctx context.Context, m *systemd.Manager, st unitState) error {
	if !st.needReload {
		return nil
	}
	return m.Conn.ReloadContext(ctx)
}

// systemdFailure is the systemd provider's prepare_error_message: what failed, and
// the unit's last lines in the journal.
func systemdFailure(ctx context.Context, what, name string) error {
	out, _ := exec.CommandContext(ctx, "journalctl", "-n", "50", "--since", "5 minutes ago", "-u", name, "--no-pager").CombinedOutput()
	return fmt.Errorf("Systemd %s for %s failed!\njournalctl log for %s:\n%s", what, name, name, out)
}

// job runs one systemd job and waits for its result. A start refused because the
// unit hit its start limit (Result start-limit-hit) fails with the least wait
// before systemd would start it again (engine.RetryAfter): the unit's
// StartLimitIntervalSec, so that retries do not keep it refused.
func job(ctx context.Context, m *systemd.Manager, what, unit string, call func(chan<- string) (int, error)) error {
	ch := make(chan string, 1)
	if _, err := call(ch); err != nil {
		return err
	}
	select {
	case res := <-ch:
		if res == "done" {
			return nil
		}
		err := systemdFailure(ctx, what, strings.TrimSuffix(unit, ".service"))
		if interval, hit := startLimitHit(ctx, m, unit); hit {
			return engine.RetryAfter(fmt.Errorf("%w\n%s hit systemd's start limit: not started again for %s", err, unit, interval), interval)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startLimit keeps this resource's starts of its unit under systemd's start limit
// (StartLimitBurst starts within StartLimitIntervalSec; 5 in 10 s by default), one
// start short of it, so that systemd never refuses the unit and leaves it failed
// because of us: a start beyond that fails with the wait until the oldest start
// leaves the interval (engine.RetryAfter). A unit whose program exits at once, or
// that something keeps undoing, is then started at most that often.
func (s *Service) startLimit(ctx context.Context, m *systemd.Manager) error {
	burst, interval := startLimitOf(ctx, m, s.unit())
	if burst == 0 || interval == 0 {
		return nil // no limit
	}
	now := time.Now()
	recent := s.starts[:0]
	for _, t := range s.starts {
		if now.Sub(t) < interval {
			recent = append(recent, t)
		}
	}
	s.starts = recent
	if allowed := max(1, int(burst)-1); len(s.starts) >= allowed {
		wait := interval - now.Sub(s.starts[0])
		return engine.RetryAfter(fmt.Errorf("not starting %s again for %s: %d starts within %s would reach systemd's start limit (StartLimitBurst=%d)",
			s.unit(), wait.Round(100*time.Millisecond), len(s.starts)+1, interval, burst), wait)
	}
	s.starts = append(s.starts, now)
	return nil
}

// startLimitHit says whether the unit's last start was refused for its start
// limit, and the limit's interval (systemd's default, 10 s, when unknown).
func startLimitHit(ctx context.Context, m *systemd.Manager, unit string) (time.Duration, bool) {
	if m == nil || !strings.HasSuffix(unit, ".service") {
		return 0, false
	}
	p, err := m.Conn.GetServicePropertyContext(ctx, unit, "Result")
	if err != nil || p.Value.Value() != "start-limit-hit" {
		return 0, false
	}
	if _, interval := startLimitOf(ctx, m, unit); interval > 0 {
		return interval, true
	}
	return 10 * time.Second, true
}

// startLimitOf reads the unit's start limit: StartLimitBurst starts within
// StartLimitIntervalSec (at most a day), systemd's defaults (5 in 10 s) for what
// cannot be read; 0 for either means no limit.
func startLimitOf(ctx context.Context, m *systemd.Manager, unit string) (burst uint64, interval time.Duration) {
	burst, interval = 5, 10*time.Second
	if p, err := m.Conn.GetUnitPropertyContext(ctx, unit, "StartLimitBurst"); err == nil {
		if b, ok := p.Value.Value().(uint32); ok {
			burst = uint64(b)
		}
	}
	if p, err := m.Conn.GetUnitPropertyContext(ctx, unit, "StartLimitIntervalUSec"); err == nil {
		if us, ok := p.Value.Value().(uint64); ok {
			interval = time.Duration(min(us, uint64(24*time.Hour/time.Microsecond))) * time.Microsecond
		}
	}
	return burst, interval
}

// execute runs a command as Puppet's execute does, failing with its message.
func execute(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("Execution of '%s' returned %d: %s", strings.Join(argv, " "), ee.ExitCode(), strings.TrimSpace(string(out)))
	}
	return err
}

// shell runs one of the service's own commands.
func shell(ctx context.Context, command string) error {
	out, err := exec.CommandContext(ctx, "/bin/sh", "-c", command).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("Execution of '%s' returned %d: %s", command, ee.ExitCode(), strings.TrimSpace(string(out)))
	}
	return err
}
