package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/mgmt-puppet/mgmt-puppet/agent"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/puppetconf"
	"github.com/mgmt-puppet/mgmt-puppet/puppetlog"
)

// daemonizedEnv marks the process a daemonizing agent started: the daemon itself.
const daemonizedEnv = "MGMT_PUPPET_DAEMONIZED"

// daemonized says whether this process is the one a daemonizing agent started,
// and takes the mark out of its environment, so that the commands it runs (an
// exec running mgmt-puppet agent) do not inherit it. wasDaemonized remembers it
// for a restart.
func daemonized() bool {
	if os.Getenv(daemonizedEnv) == "1" {
		os.Unsetenv(daemonizedEnv)
		wasDaemonized = true
	}
	return wasDaemonized
}

// wasDaemonized: this process was started in the background by daemonize.
var wasDaemonized bool

// daemonize puts the agent in the background as Puppet::Daemon#daemonize does
// when the daemonize setting is on (its default; --test and --no-daemonize turn
// it off), --onetime or not: the same command runs again in a session of its
// own, its standard streams on /dev/null, and this process exits 0 at once. Go
// cannot fork a running process, so the daemon is a new one.
func daemonize() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonizedEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Stdin, Stdout and Stderr nil: /dev/null. The working directory stays
	// until the daemon has read its settings (relative paths), then is /.
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not start the daemon: %w", err)
	}
	return cmd.Process.Release()
}

// daemonLogger is the daemon's logger: Puppet closes the console when it
// daemonizes and keeps its default destination, syslog, unless a logdest was
// given. The caller closes log and, when it is another, the one returned.
func (o *agentOptions) daemonLogger(ro *runOptions, set *puppetconf.Settings, log *puppetlog.Logger) *puppetlog.Logger {
	if o.logdest != "" || set.String("logdest") != "" {
		return log
	}
	if l, err := puppetlog.NewSyslog("puppet-agent", ro.level()); err == nil {
		return l
	}
	return log
}

// lockOnetimePID holds the pidfile through a daemonized --onetime run, as
// Puppet::Daemon#daemonize creates it before the run.
func lockOnetimePID(set *puppetconf.Settings, log *puppetlog.Logger) (unlock func(), err error) {
	pid, err := agent.LockPID(set.String("pidfile"))
	if err != nil {
		if errors.Is(err, agent.ErrLocked) {
			err = fmt.Errorf("Could not create PID file: %s", set.String("pidfile"))
		}
		log.Printf(engine.Err, "Could not run: %v", err)
		return nil, exitError{1}
	}
	return func() { _ = pid.Unlock() }, nil
}
