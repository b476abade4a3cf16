package engine

import (
	"context"
	"time"
)

// Fights: a resource repaired again and again is changed back by something else (a
// program rewriting its file, systemd removing a RuntimeDirectory, a package's
// postinst). Repairing at the rate limit would keep a CPU busy and, for services,
// exhaust systemd's start limits; so once FightRepairs repairs fall within
// FightWindow, each further repair waits for a delay that starts at FightMin and
// doubles up to FightMax (by default Puppet's run interval: a fight never repairs
// more often than Puppet's runs would), and a warning says so once per fight. A
// repair after a quiet FightWindow, counted from when the damping let it go, ends
// the fight.

// Investigator is a resource that can find out what else changes it: Investigate
// watches for up to d, or until ctx ends, and says through the resource's handle
// who it saw. The engine calls it once when a fight begins.
type Investigator interface {
	Investigate(ctx context.Context, d time.Duration)
}

// fight is a node's record of its recent repairs.
type fight struct {
	repairs []time.Time // the last FightRepairs repairs, oldest first
	delay   time.Duration
	until   time.Time // no repair before this
}

// repaired records a repair of n at now, and says whether a fight begins with it.
func (f *fight) repaired(c Config, now time.Time) (begins bool) {
	if c.FightRepairs < 0 {
		return false
	}
	if k := len(f.repairs); k > 0 {
		// Quiet since the last repair, or, in a fight, since the damping let the
		// next one go: a wait the damping imposed is not a quiet spell, or a
		// fight whose delay outgrew FightWindow would end at each repair.
		quiet := f.repairs[k-1]
		if f.delay > 0 {
			quiet = f.until
		}
		if now.Sub(quiet) >= c.FightWindow {
			*f = fight{repairs: f.repairs[:0]} // a quiet spell: the fight is over
		}
	}
	if len(f.repairs) == c.FightRepairs {
		f.repairs = append(f.repairs[:0], f.repairs[1:]...)
	}
	f.repairs = append(f.repairs, now)
	if f.delay == 0 && (len(f.repairs) < c.FightRepairs || now.Sub(f.repairs[0]) > c.FightWindow) {
		return false // not yet a fight; in one, every repair until a quiet spell is part of it
	}
	begins = f.delay == 0
	switch {
	case begins:
		f.delay = c.FightMin
	case f.delay < c.FightMax:
		f.delay = min(2*f.delay, c.FightMax)
	}
	f.until = now.Add(f.delay)
	return begins
}

// wait is how long a repair must still wait at now.
func (f *fight) wait(now time.Time) time.Duration {
	return f.until.Sub(now)
}

// noteRepair records a repair of n after the first pass; at the start of a fight it
// warns and asks an Investigator to look.
func (r *run) noteRepair(n *node) {
	now := time.Now()
	c := r.e.cfg
	f := &n.repairs().fight
	if !f.repaired(c, now) {
		return
	}
	first := f.repairs[0]
	n.Logf(Warning, "Repaired %d times in %s: something else keeps changing it; further repairs wait %s, doubling up to %s",
		len(f.repairs), now.Sub(first).Round(time.Millisecond), c.FightMin, c.FightMax)
	if inv, ok := n.v.Resource.(Investigator); ok {
		r.bg.Add(1)
		go func() {
			defer r.bg.Done()
			inv.Investigate(r.ctx, c.FightInvestigate)
		}()
	}
}
