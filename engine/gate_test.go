package engine

import (
	"context"
	"sync"
	"testing"
	"time"
)

// testGate is a Gate that an outside party opens and shuts, and that checks that
// no evaluation runs while it is not held.
type testGate struct {
	mu      sync.Mutex
	open    bool
	held    bool
	enters  int // Enter calls that said yes
	refused int
	leaves  int
}

func (g *testGate) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		g.refused++
		return false
	}
	g.held = true
	g.enters++
	return true
}

func (g *testGate) Leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held = false
	g.leaves++
}

func (g *testGate) set(open bool) {
	g.mu.Lock()
	g.open = open
	g.mu.Unlock()
}

func (g *testGate) counts() (enters, refused, leaves int, held bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.enters, g.refused, g.leaves, g.held
}

// gated is a fake whose evaluations check that the gate is held.
type gated struct {
	*fake
	gate    *testGate
	outside *int // evaluations made while the gate was not held
}

func (r gated) check() {
	r.gate.mu.Lock()
	if !r.gate.held {
		*r.outside++
	}
	r.gate.mu.Unlock()
}

// TestGateHoldsEvaluations: with the gate shut nothing is evaluated, neither the
// first pass nor a drift's repair; the drift waits and is repaired once the gate
// opens, inside an Enter and Leave.
func TestGateHoldsEvaluations(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a", "b", "c"}, "a->b")
	gate := &testGate{}
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, Gate: gate, GateRetry: 10 * time.Millisecond}, g)
	time.Sleep(100 * time.Millisecond)
	if n := fakes["a"].checks.Load() + fakes["b"].checks.Load() + fakes["c"].checks.Load(); n != 0 {
		t.Fatalf("%d evaluations with the gate shut", n)
	}
	if _, refused, _, _ := gate.counts(); refused < 2 {
		t.Errorf("gate asked %d times in 100 ms with a 10 ms retry, want it asked again", refused)
	}
	gate.set(true)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	eventually(t, "gate left", func() bool { _, _, l, held := gate.counts(); return l >= 1 && !held })

	// Drift while shut: held back, not lost.
	gate.set(false)
	fakes["c"].inSync.Store(false)
	fakes["c"].h.Poke()
	time.Sleep(100 * time.Millisecond)
	if fakes["c"].inSync.Load() {
		t.Fatal("c repaired with the gate shut")
	}
	gate.set(true)
	eventually(t, "c repaired once the gate opened", func() bool { return fakes["c"].inSync.Load() })
	eventually(t, "gate left", func() bool { _, _, _, held := gate.counts(); return !held })
	res := stop()
	enters, _, leaves, held := gate.counts()
	if enters != leaves || held {
		t.Errorf("%d enters, %d leaves, held %v at the end: want them paired", enters, leaves, held)
	}
	if res.Corrective != 1 {
		t.Errorf("corrective %d, want 1", res.Corrective)
	}
}

// TestGateHeldDuringEvaluations: every evaluation runs between an Enter that said
// yes and its Leave, however many run at once.
func TestGateHeldDuringEvaluations(t *testing.T) {
	rec := &recorder{}
	gate := &testGate{open: true}
	outside := 0
	var mu sync.Mutex
	g := NewGraph()
	var all []gated
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		f := &fake{name: name, rec: rec, sleep: 5 * time.Millisecond}
		r := gated{fake: f, gate: gate, outside: &outside}
		all = append(all, r)
		if err := g.AddVertex(&Vertex{Name: name, Resource: checkedFake{r, &mu}}); err != nil {
			t.Fatal(err)
		}
	}
	runOnce(t, Config{Observer: rec, Gate: gate, Parallelism: 3}, g)
	mu.Lock()
	defer mu.Unlock()
	if outside != 0 {
		t.Errorf("%d evaluations ran outside the gate", outside)
	}
	if enters, _, leaves, held := gate.counts(); enters == 0 || enters != leaves || held {
		t.Errorf("%d enters, %d leaves, held %v: want them paired", enters, leaves, held)
	}
	for _, r := range all {
		if r.checks.Load() != 1 {
			t.Errorf("%s checked %d times, want 1", r.name, r.checks.Load())
		}
	}
}

// checkedFake checks the gate at each CheckApply.
type checkedFake struct {
	gated
	mu *sync.Mutex
}

func (c checkedFake) CheckApply(ctx context.Context, apply bool) (bool, error) {
	c.mu.Lock()
	c.check()
	c.mu.Unlock()
	return c.fake.CheckApply(ctx, apply)
}
