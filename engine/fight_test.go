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
		{7500, false, 4 * time.Second}, // capped
		{17600, false, 0},              // a quiet window: over
		{17700, false, 0},
		{17800, true, time.Second}, // a new fight, announced again
		{40000, false, 0},
		{60000, false, 0},
		{80000, false, 0}, // three repairs, but not within a window
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
