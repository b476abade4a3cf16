package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is a resource whose state is a flag: in sync or not. CheckApply with apply
// brings it in sync. Fail makes CheckApply fail that many times.
type fake struct {
	name    string
	rec     *recorder
	h       Handle
	inSync  atomic.Bool
	fail    atomic.Int32
	perm    bool
	after   time.Duration // failures ask to be retried no sooner (RetryAfter)
	sleep   time.Duration
	locks   []string
	inits   atomic.Int32
	closes  atomic.Int32
	watches atomic.Int32
	checks  atomic.Int32
}

func (f *fake) Validate() error                 { return nil }
func (f *fake) Init(h Handle) error             { f.h = h; f.inits.Add(1); return nil }
func (f *fake) Watch(ctx context.Context) error { f.watches.Add(1); return nil }
func (f *fake) Close() error                    { f.closes.Add(1); return nil }

func (f *fake) CheckApply(ctx context.Context, apply bool) (bool, error) {
	f.checks.Add(1)
	f.rec.enter(f.name)
	defer f.rec.leave(f.name)
	if f.sleep > 0 {
		time.Sleep(f.sleep)
	}
	if f.fail.Load() > 0 {
		f.fail.Add(-1)
		err := fmt.Errorf("%s broke", f.name)
		if f.perm {
			err = Permanent(err)
		}
		if f.after > 0 {
			err = RetryAfter(err, f.after)
		}
		return false, err
	}
	if f.inSync.Load() {
		return true, nil
	}
	f.h.Change(Change{Property: "ensure", Previous: "absent", Desired: "present", Message: "created"})
	if apply {
		f.inSync.Store(true)
	}
	return false, nil
}

// refresher is a fake that can refresh.
type refresher struct {
	*fake
	refreshed atomic.Int32
}

func (r *refresher) Refresh(ctx context.Context, apply bool) error {
	r.refreshed.Add(1)
	r.rec.log("refresh " + r.name)
	return nil
}

type locked struct{ *fake }

func (l locked) Locks() []string { return l.fake.locks }

// recorder records the order of evaluations and the peak concurrency.
type recorder struct {
	mu     sync.Mutex
	events []string
	now    int
	peak   int
	obs    []Event
}

func (r *recorder) enter(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "start "+name)
	r.now++
	if r.now > r.peak {
		r.peak = r.now
	}
}

func (r *recorder) leave(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "end "+name)
	r.now--
}

func (r *recorder) log(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) Observe(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obs = append(r.obs, e)
}

func (r *recorder) kinds(k EventKind) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.obs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) index(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.events {
		if e == s {
			return i
		}
	}
	return -1
}

// unwatched is a fake whose watch sees nothing (an Exec).
type unwatched struct{ *fake }

func (unwatched) Unwatched() {}

// build makes a graph of fakes (refreshers when the name starts with R, Unwatched
// with U) from names and "a->b", "a~>b" (refresh) or "a=>b"
// (order) edges.
func build(t *testing.T, rec *recorder, names []string, edges ...string) (*Graph, map[string]*fake) {
	t.Helper()
	g := NewGraph()
	fakes := map[string]*fake{}
	for _, n := range names {
		f := &fake{name: n, rec: rec}
		fakes[n] = f
		var res Resource = f
		switch n[0] {
		case 'R':
			res = &refresher{fake: f}
		case 'U':
			res = unwatched{f}
		}
		if err := g.AddVertex(&Vertex{Name: n, Resource: res, Fingerprint: n}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range edges {
		var from, to string
		refresh, order := false, false
		for i := 0; i+1 < len(e); i++ {
			if e[i:i+2] == "->" || e[i:i+2] == "~>" || e[i:i+2] == "=>" {
				from, to, refresh, order = e[:i], e[i+2:], e[i] == '~', e[i] == '='
			}
		}
		add := func() error { return g.AddEdge(from, to, refresh) }
		if order {
			add = func() error { return g.AddOrderEdge(from, to) }
		}
		if err := add(); err != nil {
			t.Fatal(err)
		}
	}
	return g, fakes
}

func runOnce(t *testing.T, cfg Config, g *Graph) Result {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := e.Run(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestOrdering(t *testing.T) {
	rec := &recorder{}
	g, _ := build(t, rec, []string{"a", "b", "c", "d"}, "a->b", "b->c", "a->c")
	runOnce(t, Config{Observer: rec}, g)
	for _, pair := range [][2]string{{"end a", "start b"}, {"end b", "start c"}} {
		if i, j := rec.index(pair[0]), rec.index(pair[1]); i < 0 || j < 0 || i > j {
			t.Errorf("%q at %d, %q at %d: want the first before the second; events %v", pair[0], i, pair[1], j, rec.events)
		}
	}
}

func TestCatalogOrderTieBreak(t *testing.T) {
	rec := &recorder{}
	g, _ := build(t, rec, []string{"e", "d", "c", "b", "a"})
	runOnce(t, Config{Observer: rec, Parallelism: 1}, g)
	want := []string{"start e", "end e", "start d", "end d", "start c", "end c", "start b", "end b", "start a", "end a"}
	if !reflect.DeepEqual(rec.events, want) {
		t.Errorf("order %v, want %v", rec.events, want)
	}
}

func TestParallelism(t *testing.T) {
	for _, tc := range []struct {
		parallelism, want int
	}{{1, 1}, {3, 3}, {8, 6}} {
		t.Run(fmt.Sprint(tc.parallelism), func(t *testing.T) {
			rec := &recorder{}
			g, fakes := build(t, rec, []string{"a", "b", "c", "d", "e", "f"})
			for _, f := range fakes {
				f.sleep = 30 * time.Millisecond
			}
			res := runOnce(t, Config{Observer: rec, Parallelism: tc.parallelism}, g)
			if rec.peak != tc.want {
				t.Errorf("peak concurrency %d, want %d", rec.peak, tc.want)
			}
			if res.Changed != 6 {
				t.Errorf("changed %d, want 6", res.Changed)
			}
		})
	}
}

func TestLocks(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	for _, n := range []string{"a", "b", "c"} {
		f := &fake{name: n, rec: rec, sleep: 20 * time.Millisecond, locks: []string{"apt"}}
		if err := g.AddVertex(&Vertex{Name: n, Resource: locked{f}}); err != nil {
			t.Fatal(err)
		}
	}
	runOnce(t, Config{Observer: rec}, g)
	if rec.peak != 1 {
		t.Errorf("peak concurrency %d under one lock, want 1", rec.peak)
	}
}

func TestRefreshCoalesced(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a", "b", "Rc", "Rd"}, "a~>Rc", "b~>Rc", "Rc~>Rd")
	fakes["Rc"].inSync.Store(true)
	fakes["Rd"].inSync.Store(true)
	res := runOnce(t, Config{Observer: rec}, g)
	ev := rec.kinds(EventRefresh)
	if len(ev) != 2 || ev[0].Vertex.Name != "Rc" || ev[0].Count != 2 || ev[1].Vertex.Name != "Rd" || ev[1].Count != 1 {
		t.Fatalf("refresh events %+v, want Rc from 2 events then Rd from 1 (restarted forwarded)", ev)
	}
	if res.Restarted != 2 {
		t.Errorf("restarted %d, want 2", res.Restarted)
	}
}

func TestNoRefreshWithoutChange(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a", "Rb"}, "a~>Rb")
	fakes["a"].inSync.Store(true)
	runOnce(t, Config{Observer: rec}, g)
	if ev := rec.kinds(EventRefresh); len(ev) != 0 {
		t.Errorf("refresh events %+v for an unchanged source, want none", ev)
	}
	// A plain edge carries no events.
	rec = &recorder{}
	g, _ = build(t, rec, []string{"a", "Rb"}, "a->Rb")
	runOnce(t, Config{Observer: rec}, g)
	if ev := rec.kinds(EventRefresh); len(ev) != 0 {
		t.Errorf("refresh events %+v along a require edge, want none", ev)
	}
}

// failingRefresher is a refresher whose refresh fails.
type failingRefresher struct{ *refresher }

func (f failingRefresher) Refresh(ctx context.Context, apply bool) error {
	f.refresher.Refresh(ctx, apply)
	return fmt.Errorf("%s would not restart", f.name)
}

func TestRefreshAfterFailedEvaluation(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a", "Rb", "c"}, "a~>Rb", "Rb~>c")
	fakes["Rb"].fail.Store(1)
	res := runOnce(t, Config{Observer: rec}, g)
	r := g.Vertex("Rb").Resource.(*refresher)
	if r.refreshed.Load() != 1 {
		t.Errorf("refreshed %d times, want 1: Puppet processes the events of a failed resource", r.refreshed.Load())
	}
	if ev := rec.kinds(EventRefresh); len(ev) != 1 || ev[0].Vertex.Name != "Rb" {
		t.Errorf("refresh events %+v, want Rb's", ev)
	}
	if res.Failed != 1 || res.Skipped != 1 || fakes["c"].checks.Load() != 0 {
		t.Errorf("result %+v, c checked %d: want Rb failed, c skipped", res, fakes["c"].checks.Load())
	}
}

func TestFailedRefreshNotTriggered(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	a := &fake{name: "a", rec: rec}
	b := failingRefresher{&refresher{fake: &fake{name: "b", rec: rec}}}
	b.inSync.Store(true)
	for _, v := range []*Vertex{{Name: "a", Resource: a, Fingerprint: "a"}, {Name: "b", Resource: b, Fingerprint: "b"}} {
		if err := g.AddVertex(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.AddEdge("a", "b", true); err != nil {
		t.Fatal(err)
	}
	res := runOnce(t, Config{Observer: rec}, g)
	if ev := rec.kinds(EventRefresh); len(ev) != 0 {
		t.Errorf("refresh events %+v: Puppet says Triggered only once the refresh is done", ev)
	}
	f := rec.kinds(EventFailure)
	if len(f) != 1 || !f[0].Refresh || res.Failed != 1 || res.Restarted != 0 {
		t.Errorf("failures %+v, result %+v: want one failed refresh", f, res)
	}
}

func TestNoopRefresh(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a", "Rb"}, "a~>Rb")
	res := runOnce(t, Config{Observer: rec, Noop: true}, g)
	ev := rec.kinds(EventRefresh)
	if len(ev) != 1 || !ev[0].Noop || ev[0].Count != 1 {
		t.Fatalf("refresh events %+v, want one noop refresh", ev)
	}
	r := g.Vertex("Rb").Resource.(*refresher)
	if r.refreshed.Load() != 0 || fakes["a"].inSync.Load() {
		t.Error("noop changed something")
	}
	if res.Changed != 0 || res.OutOfSync != 2 {
		t.Errorf("changed %d out of sync %d, want 0 and 2", res.Changed, res.OutOfSync)
	}
}

func TestFailureSkipsDependents(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a", "b", "c", "d", "x"}, "a->b", "b->c", "x->c")
	fakes["a"].fail.Store(1)
	res := runOnce(t, Config{Observer: rec}, g)
	skips := map[string][]string{}
	for _, e := range rec.kinds(EventSkip) {
		skips[e.Vertex.Name] = e.Failed
	}
	want := map[string][]string{"b": {"a"}, "c": nil}
	if !reflect.DeepEqual(skips, want) {
		t.Errorf("skips %v, want %v", skips, want)
	}
	if fakes["b"].checks.Load() != 0 || fakes["c"].checks.Load() != 0 {
		t.Error("a skipped resource was evaluated")
	}
	if !fakes["d"].inSync.Load() || !fakes["x"].inSync.Load() {
		t.Error("independent resources were not applied")
	}
	if res.Failed != 1 || res.Skipped != 2 || res.Changed != 2 {
		t.Errorf("result %+v, want 1 failed, 2 skipped, 2 changed", res)
	}
}

// unskippable is a fake that says, when a dependency failed, whether it is unsuitable.
type unskippable struct {
	*fake
	unsuitable  bool
	failSkipped error // what DependencyFailed says when not unsuitable
	delay       time.Duration
	asked       atomic.Int32
}

func (u *unskippable) DependencyFailed(ctx context.Context) (bool, error) {
	u.asked.Add(1)
	time.Sleep(u.delay)
	return u.unsuitable, u.failSkipped
}

func TestUnsuitableFailsInsteadOfSkipping(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	a := &fake{name: "a", rec: rec}
	a.fail.Store(1)
	b := &unskippable{fake: &fake{name: "b", rec: rec}, unsuitable: true}
	b.fail.Store(1) // as Puppet fails a resource it cannot evaluate
	c := &unskippable{fake: &fake{name: "c", rec: rec}}
	d := &fake{name: "d", rec: rec}
	e := &unskippable{fake: &fake{name: "e", rec: rec}}
	for _, v := range []*Vertex{{Name: "a", Resource: a}, {Name: "b", Resource: b}, {Name: "c", Resource: c}, {Name: "d", Resource: d}, {Name: "e", Resource: e}} {
		v.Fingerprint = v.Name
		if err := g.AddVertex(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range [][2]string{{"a", "b"}, {"a", "c"}, {"b", "d"}} {
		if err := g.AddEdge(p[0], p[1], false); err != nil {
			t.Fatal(err)
		}
	}
	res := runOnce(t, Config{Observer: rec}, g)
	skips := map[string][]string{}
	for _, ev := range rec.kinds(EventSkip) {
		skips[ev.Vertex.Name] = ev.Failed
	}
	if want := map[string][]string{"c": {"a"}, "d": {"b"}}; !reflect.DeepEqual(skips, want) {
		t.Errorf("skips %v, want %v", skips, want)
	}
	if b.checks.Load() != 1 || c.checks.Load() != 0 {
		t.Errorf("checks: unsuitable b %d (want 1), suitable c %d (want 0)", b.checks.Load(), c.checks.Load())
	}
	if b.asked.Load() != 1 || c.asked.Load() != 1 || e.asked.Load() != 0 {
		t.Errorf("asked b %d, c %d, e %d: want 1, 1, 0 (only with a failed dependency)", b.asked.Load(), c.asked.Load(), e.asked.Load())
	}
	if res.Failed != 2 || res.Skipped != 2 {
		t.Errorf("result %+v, want 2 failed (a and the unsuitable b), 2 skipped", res)
	}
}

// Of the resources skipped because of one failure, the first in catalog order names
// it, even when it is asked first (ipaclient: an Augeas run by Puppet before a
// native File_line).
func TestFirstSkippedNamesFailureWhileAsked(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	a := &fake{name: "a", rec: rec}
	a.fail.Store(1)
	b := &unskippable{fake: &fake{name: "b", rec: rec}, delay: 50 * time.Millisecond}
	c := &fake{name: "c", rec: rec}
	for _, v := range []*Vertex{{Name: "a", Resource: a}, {Name: "b", Resource: b}, {Name: "c", Resource: c}} {
		v.Fingerprint = v.Name
		if err := g.AddVertex(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range [][2]string{{"a", "b"}, {"a", "c"}} {
		if err := g.AddEdge(p[0], p[1], false); err != nil {
			t.Fatal(err)
		}
	}
	runOnce(t, Config{Observer: rec}, g)
	skips := map[string][]string{}
	for _, ev := range rec.kinds(EventSkip) {
		skips[ev.Vertex.Name] = ev.Failed
	}
	if want := map[string][]string{"b": {"a"}, "c": nil}; !reflect.DeepEqual(skips, want) {
		t.Errorf("skips naming failures %v, want %v", skips, want)
	}
}

func TestPrefetchFailedSkippedAndFailed(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	a := &fake{name: "a", rec: rec}
	a.fail.Store(1)
	b := &unskippable{fake: &fake{name: "b", rec: rec}, failSkipped: errors.New("Prefetch failed for t provider 'p'")}
	c := &fake{name: "c", rec: rec}
	for _, v := range []*Vertex{{Name: "a", Resource: a}, {Name: "b", Resource: b}, {Name: "c", Resource: c}} {
		v.Fingerprint = v.Name
		if err := g.AddVertex(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range [][2]string{{"a", "b"}, {"b", "c"}} {
		if err := g.AddEdge(p[0], p[1], false); err != nil {
			t.Fatal(err)
		}
	}
	res := runOnce(t, Config{Observer: rec}, g)
	skips := map[string][]string{}
	for _, ev := range rec.kinds(EventSkip) {
		skips[ev.Vertex.Name] = ev.Roots
	}
	// c names b among the failures behind it, as Puppet's propagate_failure does.
	if want := map[string][]string{"b": {"a"}, "c": {"a", "b"}}; !reflect.DeepEqual(skips, want) {
		t.Errorf("skips (roots) %v, want %v", skips, want)
	}
	var failed []string
	for _, ev := range rec.kinds(EventFailure) {
		if ev.Vertex.Name == "b" && (!IsUnevaluated(ev.Err) || !IsReported(ev.Err)) {
			t.Errorf("b's failure %v is not marked unevaluated and reported", ev.Err)
		}
		failed = append(failed, ev.Vertex.Name)
	}
	if !reflect.DeepEqual(failed, []string{"a", "b"}) || b.checks.Load() != 0 {
		t.Errorf("failures %v, b checked %d times: want a and b, b never evaluated", failed, b.checks.Load())
	}
	if res.Failed != 2 || res.Skipped != 2 {
		t.Errorf("result %+v, want 2 failed (a, b), 2 skipped (b, c)", res)
	}
}

func TestSkipVertexPassesOrdering(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	fa := &fake{name: "a", rec: rec, sleep: 10 * time.Millisecond}
	fc := &fake{name: "c", rec: rec}
	for _, v := range []*Vertex{{Name: "a", Resource: fa}, {Name: "b", Skip: true}, {Name: "c", Resource: fc}} {
		if err := g.AddVertex(v); err != nil {
			t.Fatal(err)
		}
	}
	_ = g.AddEdge("a", "b", false)
	_ = g.AddEdge("b", "c", false)
	res := runOnce(t, Config{Observer: rec}, g)
	if i, j := rec.index("end a"), rec.index("start c"); i > j {
		t.Errorf("c started before a ended: %v", rec.events)
	}
	if res.Total != 2 {
		t.Errorf("total %d, want 2", res.Total)
	}
}

func TestCycles(t *testing.T) {
	rec := &recorder{}
	g, _ := build(t, rec, []string{"a", "b", "c", "d", "e"}, "a->b", "b->c", "c->a", "d->e", "e->e")
	got := g.Cycles()
	want := [][]string{{"a", "b", "c"}, {"e"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cycles %v, want %v", got, want)
	}
	if p := g.CyclePath(got[0]); !reflect.DeepEqual(p, []string{"a", "b", "c", "a"}) {
		t.Errorf("cycle path %v", p)
	}
}

// continuous starts a run that watches, and returns a stop function.
func continuous(t *testing.T, cfg Config, g *Graph) (*Engine, func() Result) {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var res Result
	done := make(chan error, 1)
	go func() {
		var err error
		res, err = e.Run(ctx, g)
		done <- err
	}()
	return e, func() Result {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not stop")
		}
		return res
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDriftRepairRefreshesDependents(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a", "Rb"}, "a~>Rb")
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	if fakes["a"].watches.Load() != 1 {
		t.Errorf("a watched %d times, want 1", fakes["a"].watches.Load())
	}
	// Drift: a goes out of sync and its watch pokes it.
	fakes["a"].inSync.Store(false)
	fakes["a"].h.Poke()
	r := g.Vertex("Rb").Resource.(*refresher)
	eventually(t, "repair and refresh", func() bool { return fakes["a"].inSync.Load() && r.refreshed.Load() == 2 })
	res := stop()
	if res.Corrective != 1 {
		t.Errorf("corrective %d, want 1", res.Corrective)
	}
	var corrective int
	for _, e := range rec.kinds(EventEvaluated) {
		if e.Corrective && e.Changed {
			corrective++
		}
	}
	if corrective != 1 {
		t.Errorf("corrective evaluations %d, want 1", corrective)
	}
}

func TestPokesDeduplicated(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a"})
	fakes["a"].sleep = 20 * time.Millisecond
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	for i := 0; i < 100; i++ {
		fakes["a"].h.Poke()
	}
	time.Sleep(100 * time.Millisecond)
	stop()
	// One first-pass check, then at most one for the burst and one for pokes
	// that arrived while it ran.
	if n := fakes["a"].checks.Load(); n > 3 {
		t.Errorf("%d checks for a burst of 100 pokes, want at most 3", n)
	}
	if rec.peak != 1 {
		t.Errorf("a resource ran %d times at once", rec.peak)
	}
}

func TestRateLimit(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a"})
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, RateBurst: 2, RateInterval: time.Hour}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	for i := 0; i < 10; i++ {
		fakes["a"].h.Poke()
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if n := fakes["a"].checks.Load(); n != 3 {
		t.Errorf("%d checks, want 3 (first pass + a burst of 2)", n)
	}
}

func TestRetryWithBackoff(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a", "b"}, "a->b")
	fakes["a"].fail.Store(2)
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, RetryMin: 10 * time.Millisecond}, g)
	eventually(t, "recovery", func() bool { return fakes["a"].inSync.Load() && fakes["b"].inSync.Load() })
	res := stop()
	if res.Failed != 0 || res.Skipped != 0 {
		t.Errorf("result %+v, want no failures at the end", res)
	}
	if n := len(rec.kinds(EventSkip)); n < 1 {
		t.Errorf("b skipped %d times, want at least once while a failed", n)
	}
}

func TestPermanentNotRetried(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a"})
	fakes["a"].fail.Store(5)
	fakes["a"].perm = true
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, RetryMin: time.Millisecond}, g)
	time.Sleep(50 * time.Millisecond)
	res := stop()
	if n := fakes["a"].checks.Load(); n != 1 {
		t.Errorf("%d checks of a permanently failing resource, want 1", n)
	}
	if res.Failed != 1 {
		t.Errorf("failed %d, want 1", res.Failed)
	}
}

func TestConvergedTimeout(t *testing.T) {
	rec := &recorder{}
	g, _ := build(t, rec, []string{"a", "b"})
	start := time.Now()
	runOnce(t, Config{Observer: rec, ConvergedTimeout: 100 * time.Millisecond}, g)
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("run took %v, want about the converged timeout", d)
	}
	if n := len(rec.kinds(EventConverged)); n != 1 {
		t.Errorf("%d converged events, want 1", n)
	}
}

func TestFirstPassOnlyDoesNotWatch(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a"})
	runOnce(t, Config{Observer: rec}, g)
	if fakes["a"].watches.Load() != 0 {
		t.Error("watched with converged timeout 0")
	}
	if fakes["a"].closes.Load() != 1 {
		t.Error("not closed")
	}
}

func TestSwapKeepsUnchanged(t *testing.T) {
	rec := &recorder{}
	g1, f1 := build(t, rec, []string{"a", "b"}, "a->b")
	e, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1}, g1)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })

	g2, f2 := build(t, rec, []string{"a", "c"}, "a->c")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Swap(ctx, g2); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new vertex applied", func() bool { return f2["c"].inSync.Load() })
	eventually(t, "swap done", func() bool { return len(rec.kinds(EventSwapDone)) == 1 })
	for _, ev := range rec.kinds(EventEvaluated) {
		if ev.Vertex.Name == "c" && ev.Corrective {
			t.Error("the new vertex's first evaluation is marked corrective: it is no repair")
		}
	}
	if f2["a"].inits.Load() != 0 {
		t.Error("the unchanged vertex's new resource was initialised: want the running one kept")
	}
	if f1["a"].closes.Load() != 0 || f1["a"].checks.Load() != 1 {
		t.Errorf("unchanged a: closed %d, checked %d; want 0 and 1", f1["a"].closes.Load(), f1["a"].checks.Load())
	}
	if f1["b"].closes.Load() != 1 {
		t.Error("removed vertex b was not closed")
	}
	// The kept resource still pokes into the new graph.
	f1["a"].inSync.Store(false)
	f1["a"].h.Poke()
	eventually(t, "repair after swap", func() bool { return f1["a"].inSync.Load() })
	eventually(t, "repair reported", func() bool {
		for _, ev := range rec.kinds(EventEvaluated) {
			if ev.Vertex.Name == "a" && ev.Changed && ev.Corrective {
				return true
			}
		}
		return false
	})
	stop()
	if n := len(rec.kinds(EventSwapDone)); n != 1 {
		t.Errorf("%d swap-done events, want 1 (a repair is no swap)", n)
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a", "b"}, "a->b")
	fakes["a"].sleep = 100 * time.Millisecond
	e, err := New(Config{Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := e.Run(ctx, g); err != nil {
		t.Fatal(err)
	}
	if !fakes["a"].inSync.Load() {
		t.Error("in-flight a was interrupted")
	}
	if fakes["b"].checks.Load() != 0 {
		t.Error("b started after shutdown was asked")
	}
}

func TestLargeChainAndFanOut(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	const n = 20000
	fakes := make([]*fake, n)
	for i := range fakes {
		fakes[i] = &fake{name: fmt.Sprint(i), rec: rec}
		if err := g.AddVertex(&Vertex{Name: fakes[i].name, Resource: fakes[i]}); err != nil {
			t.Fatal(err)
		}
		if i > 0 && i < n/2 {
			_ = g.AddEdge(fakes[i-1].name, fakes[i].name, false)
		}
	}
	if c := g.Cycles(); c != nil {
		t.Fatal(c)
	}
	res := runOnce(t, Config{}, g)
	if res.Changed != n {
		t.Errorf("changed %d, want %d", res.Changed, n)
	}
}

func TestErrorsClassified(t *testing.T) {
	base := errors.New("x")
	if IsPermanent(base) || !IsPermanent(fmt.Errorf("wrap: %w", Permanent(base))) {
		t.Error("Permanent not detected through wrapping")
	}
	ce := &ChangeError{Property: "returns", From: "notrun", To: "['0']", Err: base}
	if ce.Error() != "change from 'notrun' to ['0'] failed: x" || !errors.Is(ce, base) {
		t.Errorf("ChangeError %q", ce.Error())
	}
	// A type's own is_to_s: bare, or redacted.
	said := &ChangeError{Property: "value", From: "1", To: "2", Err: base, Said: &[2]string{"1", "[redacted sensitive information]"}}
	if said.Error() != "change from 1 to [redacted sensitive information] failed: x" {
		t.Errorf("ChangeError with Said %q", said.Error())
	}
}

func TestRelayPassesEventsAndFailures(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	fa := &fake{name: "a", rec: rec}
	fb := &fake{name: "b", rec: rec}
	fx := &fake{name: "x", rec: rec}
	fx.inSync.Store(true)
	rx := &refresher{fake: fx}
	for _, v := range []*Vertex{{Name: "start", Relay: true}, {Name: "a", Resource: fa}, {Name: "b", Resource: fb},
		{Name: "end", Relay: true}, {Name: "x", Resource: rx}} {
		if err := g.AddVertex(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range [][2]string{{"start", "a"}, {"start", "b"}, {"a", "end"}, {"b", "end"}, {"end", "x"}} {
		if err := g.AddEdge(e[0], e[1], true); err != nil {
			t.Fatal(err)
		}
	}
	res := runOnce(t, Config{Observer: rec}, g)
	ev := rec.kinds(EventRefresh)
	if len(ev) != 1 || ev[0].Count != 1 {
		t.Fatalf("refresh events %+v, want x refreshed once from 1 event (the container's)", ev)
	}
	if res.Total != 3 {
		t.Errorf("total %d, want 3 (relays are not resources)", res.Total)
	}

	rec = &recorder{}
	fa.rec, fb.rec, fx.rec = rec, rec, rec
	fa.inSync.Store(false)
	fa.fail.Store(1)
	g2 := NewGraph()
	for _, v := range []*Vertex{{Name: "start", Relay: true}, {Name: "a", Resource: fa}, {Name: "end", Relay: true}, {Name: "x", Resource: fx}} {
		_ = g2.AddVertex(v)
	}
	_ = g2.AddEdge("start", "a", true)
	_ = g2.AddEdge("a", "end", true)
	_ = g2.AddEdge("end", "x", false)
	runOnce(t, Config{Observer: rec}, g2)
	skips := rec.kinds(EventSkip)
	// Puppet names a failure to the first resource skipped because of it, through
	// containers too (fixtures/failure-class).
	if len(skips) != 1 || skips[0].Vertex.Name != "x" || !reflect.DeepEqual(skips[0].Failed, []string{"a"}) || !reflect.DeepEqual(skips[0].Roots, []string{"a"}) {
		t.Errorf("skips %+v, want x skipped for a, named (no event for the relay)", skips)
	}
}

func TestRepairDoesNotRerunHealthyDependents(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"dir", "file", "notify"}, "dir->file", "dir->notify")
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, RetryMin: time.Hour}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	// The file fails on its own (say its parent vanished), then the dir is repaired:
	// the failed file gets another go at once, the healthy notify is left alone.
	fakes["file"].inSync.Store(false)
	fakes["file"].fail.Store(1)
	fakes["file"].h.Poke()
	eventually(t, "file failure", func() bool { return fakes["file"].checks.Load() == 2 })
	fakes["dir"].inSync.Store(false)
	fakes["dir"].h.Poke()
	eventually(t, "file repaired after dir", func() bool { return fakes["file"].inSync.Load() })
	stop()
	if n := fakes["notify"].checks.Load(); n != 1 {
		t.Errorf("healthy dependent checked %d times, want 1 (first pass only)", n)
	}
}

func TestRepairRechecksUnwatchedDependents(t *testing.T) {
	rec := &recorder{}
	// Uexec depends on dir through the watched file and through Udirect; file is
	// looked at again so that Uexec comes after it. Uorder only follows dir by an
	// ordering edge, which is not a dependency; if it were looked at, Uexec would
	// wait for it. Nothing Unwatched is behind other, which is left to its watch.
	g, fakes := build(t, rec, []string{"dir", "file", "Udirect", "Uorder", "Uexec", "other"},
		"dir->file", "file->Uexec", "dir->Udirect", "Udirect->Uexec", "dir=>Uorder", "Uorder->Uexec", "dir->other")
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, Parallelism: 1}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	// A poke that finds dir in sync repairs nothing: nothing is looked at again.
	fakes["dir"].h.Poke()
	eventually(t, "dir checked", func() bool { return fakes["dir"].checks.Load() == 2 })
	rec.log("drift")
	fakes["dir"].inSync.Store(false)
	fakes["dir"].h.Poke()
	eventually(t, "Uexec looked at again", func() bool { return fakes["Uexec"].checks.Load() == 2 })
	// Once they have been looked at, another repair has them looked at again.
	fakes["dir"].inSync.Store(false)
	fakes["dir"].h.Poke()
	eventually(t, "Uexec looked at a third time", func() bool { return fakes["Uexec"].checks.Load() == 3 })
	stop()
	for name, want := range map[string]int32{"dir": 4, "file": 3, "Udirect": 3, "Uorder": 1, "Uexec": 3, "other": 1} {
		if got := fakes[name].checks.Load(); got != want {
			t.Errorf("%s checked %d times, want %d", name, got, want)
		}
	}
	// In graph order, after the repair (one at a time: in catalog order where
	// the graph leaves it open).
	order := rec.after("drift")
	wave := []string{"start dir", "end dir", "start file", "end file", "start Udirect", "end Udirect", "start Uexec", "end Uexec"}
	want := append(slices.Clone(wave), wave...)
	if !slices.Equal(order, want) {
		t.Errorf("after the drift: %q, want %q", order, want)
	}
}

// halfway changes two properties and fails on the second.
type halfway struct{ fake }

func (h *halfway) CheckApply(ctx context.Context, apply bool) (bool, error) {
	h.h.Change(Change{Property: "mode", Message: "mode changed '0644' to '0600'"})
	h.h.Change(Change{Property: "content", Message: "content changed"})
	return false, &ChangeError{Property: "content", From: "a", To: "b", Err: errors.New("disk full")}
}

func TestFailedChangeNotReportedAsMade(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	if err := g.AddVertex(&Vertex{Name: "h", Resource: &halfway{fake{name: "h", rec: rec}}}); err != nil {
		t.Fatal(err)
	}
	runOnce(t, Config{Observer: rec}, g)
	ch := rec.kinds(EventChange)
	if len(ch) != 1 || ch[0].Change.Property != "mode" {
		t.Errorf("changes %+v, want only the mode change (content failed)", ch)
	}
	if f := rec.kinds(EventFailure); len(f) != 1 {
		t.Errorf("failures %+v, want 1", f)
	}
}

// nop is an in-sync resource that costs nothing, to measure the engine itself.
type nop struct{}

func (nop) Validate() error                                { return nil }
func (nop) Init(Handle) error                              { return nil }
func (nop) Watch(context.Context) error                    { return nil }
func (nop) Close() error                                   { return nil }
func (nop) CheckApply(context.Context, bool) (bool, error) { return true, nil }

// BenchmarkWalk measures one first pass over graphs shaped like translated catalogs:
// every resource inside a container whose end relay depends on all of them (fan-in),
// and one long chain.
func BenchmarkWalk(b *testing.B) {
	const n = 100000
	shapes := []struct {
		name  string
		build func(g *Graph)
	}{
		{"fan-in", func(g *Graph) {
			_ = g.AddVertex(&Vertex{Name: "end", Relay: true})
			for i := 0; i < n; i++ {
				name := fmt.Sprint(i)
				_ = g.AddVertex(&Vertex{Name: name, Resource: nop{}})
				_ = g.AddEdge(name, "end", false)
			}
		}},
		{"chain", func(g *Graph) {
			for i := 0; i < n; i++ {
				_ = g.AddVertex(&Vertex{Name: fmt.Sprint(i), Resource: nop{}})
				if i > 0 {
					_ = g.AddEdge(fmt.Sprint(i-1), fmt.Sprint(i), false)
				}
			}
		}},
	}
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				g := NewGraph()
				s.build(g)
				e, err := New(Config{})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := e.Run(context.Background(), g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// twoChangesH is out of sync in two properties: two events for its dependents.
type twoChangesH struct {
	nop
	h Handle
}

func (r *twoChangesH) Init(h Handle) error { r.h = h; return nil }
func (r *twoChangesH) CheckApply(ctx context.Context, apply bool) (bool, error) {
	r.h.Change(Change{Property: "content", Previous: "a", Desired: "b", Message: "content changed"})
	r.h.Change(Change{Property: "mode", Previous: "0644", Desired: "0600", Message: "mode changed"})
	return false, nil
}

// TestEventsCountChangesAndNoopMixes checks Puppet's counting: every change is one
// event; a relay forwards one; a receiver of only noop events (a resource with the
// noop metaparameter upstream) is not refreshed, and only says what it would do.
func TestEventsCountChangesAndNoopMixes(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	add := func(v *Vertex) {
		if err := g.AddVertex(v); err != nil {
			t.Fatal(err)
		}
	}
	add(&Vertex{Name: "two", Resource: &twoChangesH{}})
	add(&Vertex{Name: "quiet", Resource: &twoChangesH{}, Noop: true})
	in1 := &refresher{fake: &fake{name: "in1", rec: rec}}
	in1.inSync.Store(true)
	in2 := &refresher{fake: &fake{name: "in2", rec: rec}}
	in2.inSync.Store(true)
	add(&Vertex{Name: "in1", Resource: in1})
	add(&Vertex{Name: "end", Relay: true})
	add(&Vertex{Name: "in2", Resource: in2})
	for _, e := range [][2]string{{"two", "in1"}, {"quiet", "end"}, {"end", "in2"}} {
		if err := g.AddEdge(e[0], e[1], true); err != nil {
			t.Fatal(err)
		}
	}
	runOnce(t, Config{Observer: rec}, g)
	got := map[string]Event{}
	for _, e := range rec.kinds(EventRefresh) {
		got[e.Vertex.Name] = e
	}
	if e := got["in1"]; e.Count != 2 || e.Noop {
		t.Errorf("in1: %+v, want a real refresh from 2 events", e)
	}
	if e := got["end"]; e.Count != 2 || !e.Noop {
		t.Errorf("relay: %+v, want a noop refresh from 2 events", e)
	}
	if e := got["in2"]; e.Count != 1 || !e.Noop {
		t.Errorf("in2: %+v, want a noop refresh from 1 event", e)
	}
	if in1.refreshed.Load() != 1 || in2.refreshed.Load() != 0 {
		t.Errorf("refreshed in1 %d in2 %d, want 1 and 0", in1.refreshed.Load(), in2.refreshed.Load())
	}
}

// invalidating is a refresher whose change voids its pending refreshes.
type invalidating struct{ *refresher }

func (invalidating) RefreshInvalidated() bool { return true }

func TestRefreshInvalidated(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	a := &fake{name: "a", rec: rec}
	r := &refresher{fake: &fake{name: "svc", rec: rec}}
	_ = g.AddVertex(&Vertex{Name: "a", Resource: a})
	_ = g.AddVertex(&Vertex{Name: "svc", Resource: invalidating{r}})
	_ = g.AddEdge("a", "svc", true)
	runOnce(t, Config{Observer: rec}, g)
	if ev := rec.kinds(EventRefresh); len(ev) != 0 || r.refreshed.Load() != 0 {
		t.Errorf("refresh events %v, refreshed %d; want none", ev, r.refreshed.Load())
	}
}

// offloaded is a fake whose work is done elsewhere: it takes no Parallelism slot.
type offloaded struct{ *fake }

func (offloaded) Offloaded() {}

func TestOffloadedTakeNoSlot(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	for _, n := range []string{"o1", "o2", "o3", "n1", "n2"} {
		f := &fake{name: n, rec: rec, sleep: 40 * time.Millisecond}
		var res Resource = f
		if n[0] == 'o' {
			res = offloaded{f}
		}
		if err := g.AddVertex(&Vertex{Name: n, Resource: res}); err != nil {
			t.Fatal(err)
		}
	}
	res := runOnce(t, Config{Observer: rec, Parallelism: 1}, g)
	// The three offloaded ones and one native at a time: four at once.
	if rec.peak != 4 {
		t.Errorf("peak concurrency %d with parallelism 1 and three offloaded, want 4", rec.peak)
	}
	if res.Changed != 5 {
		t.Errorf("changed %d, want 5", res.Changed)
	}
}

// passSignal is an Observer that says when the first pass is done.
type passSignal chan struct{}

func (p passSignal) Observe(e Event) {
	if e.Kind == EventPassDone {
		close(p)
	}
}

// workers counts the goroutines that are evaluation workers.
func workers(t *testing.T) int {
	t.Helper()
	var b strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil { // 2: each goroutine on its own
		t.Fatal(err)
	}
	return strings.Count(b.String(), "engine.(*run).worker(")
}

// TestIdleWorkersBounded: a burst of Offloaded resources starts a worker each, and
// once they are done no more than Parallelism workers stay, for as long as a
// continuous run goes on; none stays once it has ended.
func TestIdleWorkersBounded(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	for i := range 20 {
		f := &fake{name: fmt.Sprint("o", i), rec: rec, sleep: 20 * time.Millisecond}
		if err := g.AddVertex(&Vertex{Name: f.name, Resource: offloaded{f}}); err != nil {
			t.Fatal(err)
		}
	}
	pass := make(passSignal)
	e, err := New(Config{Observer: pass, Parallelism: 2, ConvergedTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error)
	go func() {
		_, err := e.Run(ctx, g)
		done <- err
	}()
	<-pass
	if rec.peak < 10 {
		t.Fatalf("peak concurrency %d: the burst did not happen", rec.peak)
	}
	idle := -1
	for range 100 { // the last workers find others idle and end
		if idle = workers(t); idle <= 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if idle > 2 {
		t.Errorf("%d workers stay after the pass, want at most Parallelism (2)", idle)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	for range 100 {
		if idle = workers(t); idle == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if idle != 0 {
		t.Errorf("%d workers stay after the run", idle)
	}
}

// preparing is a refresher that must know of a refresh before CheckApply.
type preparing struct {
	*refresher
	mu    sync.Mutex
	calls [][2]bool
}

func (p *preparing) PrepareRefresh(due, noop bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, [2]bool{due, noop})
}

func (p *preparing) RefreshInvalidated() bool { return false }

func TestRefreshPrepared(t *testing.T) {
	for _, tc := range []struct {
		name       string
		noop       bool // the whole run
		sourceNoop bool // only the source of the event
		want       [2]bool
	}{
		{"refresh", false, false, [2]bool{true, false}},
		{"noop run", true, false, [2]bool{true, true}},
		{"noop event", false, true, [2]bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			g := NewGraph()
			p := &preparing{refresher: &refresher{fake: &fake{name: "svc", rec: rec}}}
			p.inSync.Store(true)
			_ = g.AddVertex(&Vertex{Name: "a", Resource: &fake{name: "a", rec: rec}, Noop: tc.sourceNoop})
			_ = g.AddVertex(&Vertex{Name: "svc", Resource: p})
			_ = g.AddEdge("a", "svc", true)
			runOnce(t, Config{Observer: rec, Noop: tc.noop}, g)
			if len(p.calls) != 1 || p.calls[0] != tc.want {
				t.Errorf("PrepareRefresh calls %v, want one with (due, noop) %v", p.calls, tc.want)
			}
		})
	}
	rec := &recorder{}
	g := NewGraph()
	p := &preparing{refresher: &refresher{fake: &fake{name: "alone", rec: rec}}}
	_ = g.AddVertex(&Vertex{Name: "alone", Resource: p})
	runOnce(t, Config{Observer: rec}, g)
	if len(p.calls) != 1 || p.calls[0][0] {
		t.Errorf("without events: PrepareRefresh calls %v, want one, not due", p.calls)
	}
}

// needy is a fake whose CheckApply fails while its dependency is out of sync (a
// user whose group is gone).
type needy struct {
	*fake
	dep *fake
}

func (n *needy) CheckApply(ctx context.Context, apply bool) (bool, error) {
	if !n.dep.inSync.Load() {
		n.checks.Add(1)
		return false, fmt.Errorf("%s: %s is missing", n.name, n.dep.name)
	}
	return n.fake.CheckApply(ctx, apply)
}

// TestDriftChecksDependenciesFirst: after the first pass, a poke of a resource has
// its direct dependencies checked before it, so that a drift that hit both is
// repaired in order even when only the dependent's event has arrived.
func TestDriftChecksDependenciesFirst(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	group := &fake{name: "group", rec: rec}
	user := &needy{fake: &fake{name: "user", rec: rec}, dep: group}
	_ = g.AddVertex(&Vertex{Name: "group", Resource: group})
	_ = g.AddVertex(&Vertex{Name: "user", Resource: user})
	_ = g.AddEdge("group", "user", false)
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	group.inSync.Store(false)
	user.inSync.Store(false)
	user.h.Poke() // only the user's event has come
	eventually(t, "both repaired", func() bool { return user.inSync.Load() && group.inSync.Load() })
	stop()
	if f := rec.kinds(EventFailure); len(f) != 0 {
		t.Errorf("failures %v: the group should have been repaired before the user", f[0].Err)
	}
}

// selfish is a refresher whose own changes refresh it (a Mount).
type selfish struct{ *refresher }

func (selfish) SelfRefresh() bool { return true }

// TestSelfRefresh: a SelfRefresher's own change refreshes it, counted with the
// events of its notifiers in one refresh.
func TestSelfRefresh(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	a := &fake{name: "a", rec: rec}
	m := &refresher{fake: &fake{name: "mount", rec: rec}}
	_ = g.AddVertex(&Vertex{Name: "a", Resource: a})
	_ = g.AddVertex(&Vertex{Name: "mount", Resource: selfish{m}})
	_ = g.AddEdge("a", "mount", true)
	runOnce(t, Config{Observer: rec}, g)
	ev := rec.kinds(EventRefresh)
	if len(ev) != 1 || ev[0].Count != 2 || m.refreshed.Load() != 1 {
		t.Errorf("refresh events %+v, refreshed %d; want one refresh from 2 events", ev, m.refreshed.Load())
	}
}

// yielder is a resource that, while applying, waits in Yield until release is
// closed.
type yielder struct {
	fake
	release  chan struct{}
	yielded  chan struct{}
	timedOut bool
}

func (y *yielder) CheckApply(ctx context.Context, apply bool) (bool, error) {
	y.h.(Yielder).Yield(func() {
		close(y.yielded)
		select {
		case <-y.release:
		case <-time.After(3 * time.Second):
			y.timedOut = true
		}
	})
	return y.fake.CheckApply(ctx, apply)
}

// releaser closes release when it runs.
type releaser struct {
	fake
	release chan struct{}
}

func (r *releaser) CheckApply(ctx context.Context, apply bool) (bool, error) {
	close(r.release)
	return r.fake.CheckApply(ctx, apply)
}

// TestYieldLendsSlot: with one slot, a resource waiting in Yield lends it, so an
// independent resource runs meanwhile and ends the wait. Without the lend the run
// would hang until its deadline.
func TestYieldLendsSlot(t *testing.T) {
	rec := &recorder{}
	release := make(chan struct{})
	y := &yielder{fake: fake{name: "y", rec: rec}, release: release, yielded: make(chan struct{})}
	r := &releaser{fake: fake{name: "r", rec: rec}, release: release}
	g := NewGraph()
	for _, v := range []*Vertex{{Name: "y", Resource: y}, {Name: "r", Resource: r}} {
		if err := g.AddVertex(v); err != nil {
			t.Fatal(err)
		}
	}
	e, err := New(Config{Parallelism: 1, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.Run(ctx, g); err != nil {
		t.Fatal(err)
	}
	if y.timedOut {
		t.Fatal("the waiting resource kept its slot: nothing else ran while it waited")
	}
	if i, j := rec.index("start r"), rec.index("end y"); i < 0 || j < 0 || i > j {
		t.Errorf("r started at %d, y ended at %d: want r to run while y waits; events %v", i, j, rec.events)
	}
	if n := e.lent.Load(); n != 0 {
		t.Errorf("%d slots still lent after the run", n)
	}
}

// TestRepairWaitsForDependencyInFlight: a dependent poked while a repair of its
// dependency is in flight is repaired after it, never at the same time.
func TestRepairWaitsForDependencyInFlight(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"pkg", "conf"}, "pkg->conf")
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	fakes["pkg"].sleep = 50 * time.Millisecond
	rec.log("drift")
	fakes["pkg"].inSync.Store(false)
	fakes["pkg"].h.Poke()
	eventually(t, "pkg's repair started", func() bool { return fakes["pkg"].checks.Load() == 2 })
	fakes["conf"].inSync.Store(false)
	fakes["conf"].h.Poke()
	eventually(t, "conf repaired", func() bool { return fakes["conf"].inSync.Load() })
	stop()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	after := slices.Index(rec.events, "drift")
	want := []string{"drift", "start pkg", "end pkg", "start conf", "end conf"}
	if got := rec.events[after:]; !slices.Equal(got, want) {
		t.Errorf("after the drift: %q, want %q", got, want)
	}
}

// TestRepairRetriesFailedUnwatchedAtOnce: an Unwatched resource that failed gets
// another go when something it depends on, not directly, is repaired, not at its
// retry an hour later.
func TestRepairRetriesFailedUnwatchedAtOnce(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"pkg", "conf", "Uuser"}, "pkg->conf", "conf->Uuser")
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, RetryMin: time.Hour}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	fakes["Uuser"].inSync.Store(false)
	fakes["Uuser"].fail.Store(1)
	fakes["Uuser"].h.Poke()
	eventually(t, "Uuser failed", func() bool { return len(rec.kinds(EventFailure)) == 1 })
	fakes["pkg"].inSync.Store(false)
	fakes["pkg"].h.Poke()
	eventually(t, "Uuser repaired after pkg", func() bool { return fakes["Uuser"].inSync.Load() })
	stop()
}

// hanging is a fake whose CheckApply waits for its context to end, as a command
// that never exits; with change, it fails as the Exec then does, changing
// property returns.
type hanging struct {
	*fake
	started chan struct{}
	change  bool
}

func (h hanging) CheckApply(ctx context.Context, apply bool) (bool, error) {
	h.rec.enter(h.name)
	defer h.rec.leave(h.name)
	close(h.started)
	<-ctx.Done()
	if h.change {
		return false, &ChangeError{Property: "returns", From: "notrun", To: "['0']", Err: context.Cause(ctx)}
	}
	return false, ctx.Err()
}

// TestAbortCancelsInFlight: Config.Abort ends the run as Puppet's runtimeout
// does: the evaluation in flight is cancelled with Abort's cause, nothing after
// it starts, and what ran before keeps its result. Cut short in a change, the
// resource fails with the cause (Puppet's harness records that change); else it
// gets no event. Run's own context alone would let the evaluation finish.
func TestAbortCancelsInFlight(t *testing.T) {
	expired := errors.New("execution expired")
	for _, change := range []bool{false, true} {
		t.Run(fmt.Sprintf("change=%v", change), func(t *testing.T) {
			rec := &recorder{}
			g := NewGraph()
			// free depends on nothing but waits for the one slot behind hang.
			a, b, free := &fake{name: "a", rec: rec}, &fake{name: "b", rec: rec}, &fake{name: "free", rec: rec}
			h := hanging{fake: &fake{name: "hang", rec: rec}, started: make(chan struct{}), change: change}
			for _, v := range []*Vertex{{Name: "a", Resource: a}, {Name: "hang", Resource: h}, {Name: "b", Resource: b}, {Name: "free", Resource: free}} {
				if err := g.AddVertex(v); err != nil {
					t.Fatal(err)
				}
			}
			for _, e := range [][2]string{{"a", "hang"}, {"hang", "b"}} {
				if err := g.AddEdge(e[0], e[1], false); err != nil {
					t.Fatal(err)
				}
			}
			abort, cancelAbort := context.WithCancelCause(context.Background())
			defer cancelAbort(nil)
			go func() {
				<-h.started
				cancelAbort(expired)
			}()
			start := time.Now()
			res := runOnce(t, Config{Observer: rec, Abort: abort, Parallelism: 1}, g)
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("Run returned after %v", d)
			}
			if !a.inSync.Load() || b.checks.Load() != 0 || free.checks.Load() != 0 {
				t.Errorf("a in sync %v, b checked %d times, free %d: want a applied, b and free never started",
					a.inSync.Load(), b.checks.Load(), free.checks.Load())
			}
			var failures []string
			for _, e := range rec.obs {
				switch {
				case e.Vertex == nil || e.Vertex.Name == "a":
				case e.Kind == EventFailure && e.Vertex.Name == "hang":
					failures = append(failures, e.Err.Error())
					if ce, ok := e.Err.(*ChangeError); !ok || !ce.Halted {
						t.Errorf("failure of hang: %#v, want a halted *ChangeError", e.Err)
					}
				default:
					t.Errorf("event %v for %s", e.Kind, e.Vertex.Name)
				}
			}
			want := []string(nil)
			if change {
				want = []string{"change from 'notrun' to ['0'] failed: execution expired"}
			}
			if !slices.Equal(failures, want) {
				t.Errorf("failures of hang %q, want %q", failures, want)
			}
			if res.Failed != 0 || res.Skipped != 0 || res.Changed != 1 {
				t.Errorf("result %+v: want 1 changed, none failed or skipped", res)
			}
		})
	}
}

// TestAbortBeforeRun: with Abort already done, Run evaluates nothing.
func TestAbortBeforeRun(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"a", "b"}, "a->b")
	abort, cancel := context.WithCancel(context.Background())
	cancel()
	runOnce(t, Config{Observer: rec, Abort: abort}, g)
	for name, f := range fakes {
		if f.checks.Load() != 0 {
			t.Errorf("%s checked after Abort", name)
		}
	}
	for _, e := range rec.obs {
		if e.Vertex != nil {
			t.Errorf("event %v for %s after Abort", e.Kind, e.Vertex.Name)
		}
	}
}
