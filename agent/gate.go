package agent

import (
	"errors"
	"fmt"
	"sync"
)

// RunGate shares agent_catalog_run.lock between a daemon's runs and the repairs
// its engine makes between runs, so that neither applies anything while another
// agent's run (puppet agent -t) holds the lock, and no puppet agent run starts
// while they apply. The lock is taken from the system by the first holder and
// given back by the last; Enter and Leave make RunGate an engine.Gate. Repairs
// wait, too, while agent_disabled.lock is there (puppet agent --disable).
type RunGate struct {
	lockFile, disabledFile string
	// Waiting is told why repairs wait each time that changes: a sentence, or ""
	// when they go on again. It is called with the gate's mutex held.
	Waiting func(why string)

	mu      sync.Mutex
	holders int
	lock    *Pidlock
	why     string
}

// NewRunGate is the gate of the lock and disabled files of puppet.conf's
// agent_catalog_run_lockfile and agent_disabled_lockfile.
func NewRunGate(lockFile, disabledFile string) *RunGate {
	return &RunGate{lockFile: lockFile, disabledFile: disabledFile}
}

// Acquire holds the run lock for a run: taken when no repair holds it already.
// The error wraps ErrLocked when another agent's run holds it.
func (g *RunGate) Acquire() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.acquire()
}

func (g *RunGate) acquire() error {
	if g.holders == 0 {
		l, err := LockRun(g.lockFile)
		if err != nil {
			return err
		}
		g.lock = l
	}
	g.holders++
	return nil
}

// Release gives back what Acquire or a yes of Enter took; the last holder
// removes the lock file.
func (g *RunGate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holders--
	if g.holders == 0 && g.lock != nil {
		_ = g.lock.Unlock()
		g.lock = nil
	}
}

// Enter lets repairs start when the daemon's own run holds the lock, or when it
// can be taken and the agent is not disabled.
func (g *RunGate) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holders > 0 {
		g.holders++
		return true
	}
	reason, disabled, err := Disabled(g.disabledFile)
	switch {
	case err != nil:
		g.wait(fmt.Sprintf("Not repairing drift: %v", err))
		return false
	case disabled:
		g.wait(fmt.Sprintf("Not repairing drift while administratively disabled (Reason: '%s'); it waits for 'puppet agent --enable'", reason))
		return false
	}
	if err := g.acquire(); err != nil {
		if errors.Is(err, ErrLocked) {
			g.wait(fmt.Sprintf("Not repairing drift while another run holds the lock: %v", err))
		} else {
			g.wait(fmt.Sprintf("Not repairing drift: %v", err))
		}
		return false
	}
	g.wait("")
	return true
}

// Leave implements engine.Gate.
func (g *RunGate) Leave() { g.Release() }

func (g *RunGate) wait(why string) {
	if why == g.why {
		return
	}
	g.why = why
	if g.Waiting != nil {
		g.Waiting(why)
	}
}
