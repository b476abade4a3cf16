package engine

import "time"

// Gate is what evaluations pass before they start: a daemon sharing the system
// with other agents takes their lock there (Puppet's agent_catalog_run.lock), and
// holds nothing back while it is inside a run of its own. Enter is called before
// the first evaluation starts while none runs; Leave once the last of them is
// over. Both are called from the engine's loop, one at a time.
type Gate interface {
	// Enter says whether evaluations may start now. When it says no, they wait
	// (drift events go on being collected), and the engine asks again after
	// Config.GateRetry.
	Enter() bool
	// Leave follows each Enter that said yes, once no evaluation runs.
	Leave()
}

// enterGate passes the gate, if there is one, for evaluations to start; when it
// stays shut, a timer asks again later.
func (r *run) enterGate() bool {
	g := r.e.cfg.Gate
	if g == nil || r.gateHeld {
		return true
	}
	if g.Enter() {
		r.gateHeld = true
		return true
	}
	if r.gateTimer == nil {
		r.gateTimer = time.NewTimer(r.e.cfg.GateRetry) // the loop selects on it
	}
	return false
}

// gateRetryC fires when the gate is to be asked again; nil when no one waits.
func (r *run) gateRetryC() <-chan time.Time {
	if r.gateTimer == nil {
		return nil
	}
	return r.gateTimer.C
}

// leaveGate gives the gate back once nothing runs.
func (r *run) leaveGate() {
	if r.gateHeld && r.running == 0 {
		r.gateHeld = false
		r.e.cfg.Gate.Leave()
	}
}

// stopGate stops the retry timer and gives the gate back at the end of a run.
func (r *run) stopGate() {
	if r.gateTimer != nil {
		r.gateTimer.Stop()
		r.gateTimer = nil
	}
	r.leaveGate()
}
