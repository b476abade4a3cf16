package engine

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFightRepaired(t *testing.T) {
	c := Config{FightRepairs: 3, FightWindow: 10 * time.Second, FightMin: time.Second, FightMax: 4 * time.Second}
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var f fight
	steps := []struct {
		ms     int
		begins bool
		delay  time.Duration
	}{
		{0, false, 0},
		{100, false, 0},
		{200, true, time.Second}, // third repair within the window: a fight
		{1300, false, 2 * time.Second},
		{3400, false, 4 * time.Second},
		{7500, false, 4 * time.Second},  // capped
		{17600, false, 4 * time.Second}, // 6.1 s after the damping let it go: still the fight
		{31700, false, 0},               // a quiet window after that: over
		{31800, false, 0},
		{31900, true, time.Second}, // a new fight, announced again
		{60000, false, 0},
		{80000, false, 0},
		{100000, false, 0}, // three repairs, but not within a window
	}
	for i, s := range steps {
		begins := f.repaired(c, at(s.ms))
		if begins != s.begins || f.delay != s.delay {
			t.Fatalf("step %d (%d ms): begins %v delay %v, want %v %v", i, s.ms, begins, f.delay, s.begins, s.delay)
		}
		if s.delay > 0 && f.wait(at(s.ms)) != s.delay {
			t.Fatalf("step %d: wait %v, want %v", i, f.wait(at(s.ms)), s.delay)
		}
	}
}

// A fight whose delay outgrows FightWindow goes on: each repair comes as soon as
// the damping lets it, which is no quiet spell (redis' RuntimeDirectory against
// File[/var/run/redis] restarted the fight after every 16 s wait).
func TestFightOutgrowsWindow(t *testing.T) {
	c := Config{FightRepairs: 3, FightWindow: 10 * time.Second, FightMin: 4 * time.Second, FightMax: 32 * time.Second}
	t0 := time.Unix(1000, 0)
	var f fight
	now := t0
	for i, want := range []time.Duration{0, 0, 4, 8, 16, 32, 32, 32} {
		f.repaired(c, now)
		if f.delay != want*time.Second {
			t.Fatalf("repair %d at %v: delay %v, want %v", i, now.Sub(t0), f.delay, want*time.Second)
		}
		now = now.Add(max(f.wait(now), 100*time.Millisecond)) // the other party undoes it at once
	}
}

// investigated is a fake that can investigate a fight.
type investigated struct {
	*fake
	calls atomic.Int32
	ended atomic.Bool
}

func (i *investigated) Investigate(ctx context.Context, d time.Duration) {
	i.calls.Add(1)
	select {
	case <-ctx.Done():
		i.ended.Store(true)
	case <-time.After(d):
	}
	i.h.Logf(Warning, "changed by pid 42 (fighter)")
}

// Another party undoing a resource as fast as it can: the repairs slow down, one
// warning says so, the investigator is asked once, and after the other party stops
// the resource converges.
func TestFightDamped(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a"})
	a := fakes["a"]
	inv := &investigated{fake: a}
	g.Vertex("a").Resource = inv
	cfg := Config{Observer: rec, ConvergedTimeout: -1, FightRepairs: 3, FightWindow: time.Second,
		FightMin: 50 * time.Millisecond, FightMax: 200 * time.Millisecond, FightInvestigate: time.Hour}
	_, stop := continuous(t, cfg, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	end := time.Now().Add(time.Second)
	undone := 0
	for time.Now().Before(end) { // the other party: undo every millisecond
		if a.inSync.Load() {
			a.inSync.Store(false)
			a.h.Poke()
			undone++
		}
		time.Sleep(time.Millisecond)
	}
	// 3 quick repairs, then waits of 50, 100, 200, 200... ms: at most about 8 in
	// a second; undamped, the rate limit alone allows 20 + 50 a second.
	repairs := int(a.checks.Load()) - 1
	if repairs > 10 {
		t.Errorf("%d repairs in 1 s of fighting (undone %d times), want at most 10", repairs, undone)
	}
	a.inSync.Store(false) // the last undo; the other party stops
	a.h.Poke()
	eventually(t, "convergence after the fight", func() bool { return a.inSync.Load() })
	res := stop()
	var warned, said int
	for _, e := range rec.kinds(EventLog) {
		if strings.Contains(e.Message, "something else keeps changing it") {
			warned++
		}
		if strings.Contains(e.Message, "pid 42") {
			said++
		}
	}
	if warned != 1 {
		t.Errorf("%d fight warnings, want 1", warned)
	}
	if inv.calls.Load() != 1 || !inv.ended.Load() || said != 1 {
		t.Errorf("investigator called %d times, ended by the run's end %v, said %d; want 1, true, 1",
			inv.calls.Load(), inv.ended.Load(), said)
	}
	if res.Corrective < 3 {
		t.Errorf("corrective %d, want the repairs counted", res.Corrective)
	}
}

func TestFightNeverWithMinusOne(t *testing.T) {
	c := Config{FightRepairs: -1, FightWindow: time.Second, FightMin: time.Second, FightMax: time.Second}
	var f fight
	for i := range 100 {
		if f.repaired(c, time.Unix(0, int64(i))) || f.wait(time.Unix(0, int64(i))) > 0 {
			t.Fatalf("repair %d: a fight with FightRepairs -1", i)
		}
	}
}

// A failed resource whose failure makes its own watch fire (a systemd unit whose
// start failed signals its change) is tried again at its backoff, not at every
// poke; a RetryAfter failure waits at least as long as it asks; once it works, a
// poke repairs at once again.
func TestPokesKeepRetryBackoff(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"svc"})
	svc := fakes["svc"]
	cfg := Config{Observer: rec, ConvergedTimeout: -1, RetryMin: 100 * time.Millisecond, RetryMax: time.Second,
		FightRepairs: -1}
	_, stop := continuous(t, cfg, g)
	defer stop()
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	base := svc.checks.Load()
	svc.inSync.Store(false)
	svc.fail.Store(1000)
	svc.h.Poke()
	start := time.Now()
	for time.Since(start) < 700*time.Millisecond { // the failure's own signal, every millisecond
		svc.h.Poke()
		time.Sleep(time.Millisecond)
	}
	// Tries at 0, then 100, 200, 400 ms of backoff: 0, 100, 300 and 700 ms.
	if n := svc.checks.Load() - base; n < 2 || n > 5 {
		t.Errorf("%d tries in 700 ms of pokes with a 100 ms backoff doubling; want 3 or 4", n)
	}
	// A failure that asks for more time than the backoff (systemd's start limit).
	svc.fail.Store(0)
	eventually(t, "repaired after the failures stop", func() bool { return svc.inSync.Load() })
	svc.inSync.Store(false)
	svc.after = 500 * time.Millisecond
	svc.fail.Store(1)
	base = svc.checks.Load()
	failedAt := time.Now()
	svc.h.Poke()
	eventually(t, "repaired after a RetryAfter failure", func() bool { return svc.inSync.Load() })
	if d := time.Since(failedAt); d < 500*time.Millisecond || svc.checks.Load()-base != 2 {
		t.Errorf("after a failure asking for 500 ms: repaired after %v in %d tries", d, svc.checks.Load()-base)
	}
	svc.inSync.Store(false)
	repaired := time.Now()
	svc.h.Poke()
	eventually(t, "a drift repaired at once once working", func() bool { return svc.inSync.Load() })
	if d := time.Since(repaired); d > 50*time.Millisecond {
		t.Errorf("a drift after recovery waited %v", d)
	}
}
