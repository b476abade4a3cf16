package resources

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/systemd"
)

// Service is Puppet's service type with the systemd provider, driven over D-Bus:
// the unit's state is read from systemd's properties, changed with StartUnit,
// StopUnit, RestartUnit and the unit-file calls, and watched through systemd's
// PropertiesChanged signals.
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
	}
	return nil
}

// ProviderName names the provider, as reports do.
func (s *Service) ProviderName() string { return "systemd" }

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

// Watch subscribes to the unit's property changes.
func (s *Service) Watch(ctx context.Context) error {
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
	active, fileState, load string
	needReload              bool
}

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
		st := unitState{active: str("ActiveState"), fileState: str("UnitFileState"), load: str("LoadState")}
		st.needReload, _ = props["NeedDaemonReload"].(bool)
		if (st.active != "activating" && st.active != "deactivating") || time.Now().After(deadline) {
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
	return st.active == "active" || st.active == "reloading" || st.active == "activating"
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

// CheckApply compares the unit's state with ensure and enable and, with apply,
// changes it as Puppet does: a change of ensure brings enable along silently;
// enable is a change of its own only when ensure was in sync.
func (s *Service) CheckApply(ctx context.Context, apply bool) (bool, error) {
	s.started = false
	m, err := systemd.Default()
	if err != nil {
		return false, fmt.Errorf("cannot reach systemd over D-Bus: %w", err)
	}
	st, err := s.state(ctx, m)
	if err != nil {
		return false, err
	}
	if st.load == "not-found" && (s.Ensure == "running" || s.Enable == "true") {
		return false, fmt.Errorf("Could not find the systemd unit %s", s.unit())
	}
	ok := true
	if s.Ensure != "" {
		is := "stopped"
		if s.running(ctx, st) {
			is = "running"
		}
		if is != s.Ensure {
			ok = false
			s.h.Change(engine.Change{Property: "ensure", Previous: is, Desired: s.Ensure,
				Message: "ensure changed '" + is + "' to '" + s.Ensure + "'"})
			if apply {
				if err := s.setRunning(ctx, m, st); err != nil {
					return false, &engine.ChangeError{Property: "ensure", From: is, To: s.Ensure, Err: err}
				}
				s.started = s.Ensure == "running"
				// Puppet's service ensure syncs enable with it, without an event of
				// its own; the harness then looks at no other property.
				if s.Enable != "" && s.enabled(st) != s.Enable {
					if err := s.setEnable(ctx, m); err != nil {
						return false, &engine.ChangeError{Property: "ensure", From: is, To: s.Ensure, Err: err}
					}
				}
			}
			return false, nil
		}
	}
	if s.Enable != "" {
		is := s.enabled(st)
		if is != s.Enable {
			ok = false
			s.h.Change(engine.Change{Property: "enable", Previous: is, Desired: s.Enable,
				Message: "enable changed '" + is + "' to '" + s.Enable + "'"})
			if apply {
				if err := s.setEnable(ctx, m); err != nil {
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
	m, err := systemd.Default()
	if err != nil {
		return err
	}
	st, err := s.state(ctx, m)
	if err != nil {
		return err
	}
	if !s.running(ctx, st) {
		return nil // Puppet: "Skipping restart; service is not running"
	}
	if err := s.daemonReload(ctx, m, st); err != nil {
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
	return job(ctx, "restart", s.unit(), func(ch chan<- string) (int, error) {
		return m.Conn.RestartUnitContext(ctx, s.unit(), "replace", ch)
	})
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
	return job(ctx, "start", s.unit(), func(ch chan<- string) (int, error) {
		return m.Conn.StartUnitContext(ctx, s.unit(), "replace", ch)
	})
}

func (s *Service) stop(ctx context.Context, m *systemd.Manager) error {
	if s.Stop != "" {
		return shell(ctx, s.Stop)
	}
	return job(ctx, "stop", s.unit(), func(ch chan<- string) (int, error) {
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

// job runs one systemd job and waits for its result.
func job(ctx context.Context, what, unit string, call func(chan<- string) (int, error)) error {
	ch := make(chan string, 1)
	if _, err := call(ch); err != nil {
		return err
	}
	select {
	case res := <-ch:
		if res != "done" {
			return fmt.Errorf("Systemd %s for %s failed! (job %s)", what, strings.TrimSuffix(unit, ".service"), res)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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
