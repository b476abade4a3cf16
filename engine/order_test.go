package engine

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// An order edge makes its target wait, and nothing else: no failure, skip or refresh
// passes along it.
func TestOrderEdge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edges   []string
		fail    string
		wantRan []string // evaluated, in this order
		skipped []string
		refresh int
	}{
		{name: "waits", edges: []string{"b=>a"}, wantRan: []string{"b", "a"}},
		{name: "failure does not pass", edges: []string{"a=>b"}, fail: "a", wantRan: []string{"a", "b"}},
		{name: "skip does not pass", edges: []string{"x->a", "a=>b"}, fail: "x", wantRan: []string{"x", "b"}, skipped: []string{"a"}},
		{name: "no refresh", edges: []string{"a=>Rb"}, wantRan: []string{"a", "Rb"}},
		{name: "plain edge wins after", edges: []string{"a=>b", "a->b"}, fail: "a", wantRan: []string{"a"}, skipped: []string{"b"}},
		{name: "plain edge wins before", edges: []string{"a->b", "a=>b"}, fail: "a", wantRan: []string{"a"}, skipped: []string{"b"}},
		{name: "refresh edge kept", edges: []string{"a~>Rb", "a=>Rb"}, wantRan: []string{"a", "Rb"}, refresh: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			var names []string
			seen := map[string]bool{}
			for _, e := range tc.edges {
				for _, n := range strings.FieldsFunc(e, func(r rune) bool { return strings.ContainsRune("-~=>", r) }) {
					if !seen[n] {
						seen[n] = true
						names = append(names, n)
					}
				}
			}
			// Reverse catalog order, so that only the edges can explain the order seen.
			for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
				names[i], names[j] = names[j], names[i]
			}
			g, fakes := build(t, rec, names, tc.edges...)
			for _, f := range fakes {
				f.sleep = 5 * time.Millisecond
			}
			if tc.fail != "" {
				fakes[tc.fail].fail.Store(1)
			}
			runOnce(t, Config{Observer: rec}, g)
			var ran []string
			for _, e := range rec.events {
				if n, ok := strings.CutPrefix(e, "start "); ok {
					ran = append(ran, n)
				}
				if n, ok := strings.CutPrefix(e, "end "); ok && len(ran) > 0 && ran[len(ran)-1] != n {
					t.Errorf("%s ended while %s ran: events %v", n, ran[len(ran)-1], rec.events)
				}
			}
			if !reflect.DeepEqual(ran, tc.wantRan) {
				t.Errorf("evaluated %v, want %v (events %v)", ran, tc.wantRan, rec.events)
			}
			var skipped []string
			for _, e := range rec.kinds(EventSkip) {
				skipped = append(skipped, e.Vertex.Name)
			}
			if !reflect.DeepEqual(skipped, tc.skipped) {
				t.Errorf("skipped %v, want %v", skipped, tc.skipped)
			}
			if n := len(rec.kinds(EventRefresh)); n != tc.refresh {
				t.Errorf("%d refresh events, want %d", n, tc.refresh)
			}
		})
	}
}

// SerialOrder is the order in which the engine itself evaluates a graph one vertex
// at a time, which is Puppet's traversal: checked on random graphs.
func TestSerialOrderIsTheEnginesWithOneWorker(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	for trial := 0; trial < 30; trial++ {
		n := 2 + rnd.Intn(12)
		var names, edges []string
		for i := 0; i < n; i++ {
			names = append(names, fmt.Sprintf("v%d", i))
		}
		// Edges go from a lower to a higher position of a random permutation: acyclic,
		// but not in insertion order.
		perm := rnd.Perm(n)
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				if rnd.Intn(4) == 0 {
					edges = append(edges, names[perm[i]]+"->"+names[perm[j]])
				}
			}
		}
		rec := &recorder{}
		g, _ := build(t, rec, names, edges...)
		var want []string
		for _, v := range g.SerialOrder() {
			want = append(want, v.Name)
		}
		runOnce(t, Config{Observer: rec, Parallelism: 1}, g)
		var got []string
		for _, e := range rec.events {
			if name, ok := strings.CutPrefix(e, "start "); ok {
				got = append(got, name)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("graph %v %v: engine ran %v, SerialOrder says %v", names, edges, got, want)
		}
	}
}

func TestPrecedes(t *testing.T) {
	rec := &recorder{}
	g, _ := build(t, rec, []string{"a", "b", "c", "d", "e"}, "a->b", "b=>c", "d->e")
	rank := map[string]int{}
	for i, v := range g.SerialOrder() {
		rank[v.Name] = i
	}
	byRank := func(v *Vertex) int { return rank[v.Name] }
	vertex := map[string]*Vertex{}
	for _, v := range g.Vertices() {
		vertex[v.Name] = v
	}
	vertices := func(names ...string) []*Vertex {
		var out []*Vertex
		for _, n := range names {
			out = append(out, vertex[n])
		}
		return out
	}
	for _, tc := range []struct {
		to    string
		froms []string
		limit int
		want  []string
		// complete is false when the walk may have stopped before finding all.
		complete bool
	}{
		{"c", []string{"a", "b", "d", "e"}, 100, []string{"a", "b"}, true},
		{"c", []string{"b"}, 0, []string{"b"}, true}, // direct: no walk, no limit
		{"c", []string{"a", "b"}, 0, []string{"b"}, false},
		{"c", []string{"a"}, 0, nil, false},
		{"e", []string{"a", "b", "c"}, 100, nil, true},
	} {
		found, complete := g.Precedes(vertex[tc.to], vertices(tc.froms...), byRank, tc.limit)
		var got []string
		for i, v := range vertices(tc.froms...) {
			if found[i] {
				got = append(got, v.Name)
			}
		}
		if complete != tc.complete || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Precedes(%s, %v, limit %d) = %v, %v; want %v, %v", tc.to, tc.froms, tc.limit, got, complete, tc.want, tc.complete)
		}
	}
}

func TestCriticalPath(t *testing.T) {
	rec := &recorder{}
	g, _ := build(t, rec, []string{"a", "b", "c", "d", "e"}, "a->b", "b->c", "d=>a")
	if got := g.CriticalPath(false); got != 4 {
		t.Errorf("critical path %d, want 4 (d a b c)", got)
	}
	if got := g.CriticalPath(true); got != 3 {
		t.Errorf("critical path without order edges %d, want 3 (a b c)", got)
	}
}

// fakeQueue serves its resources as delegate's runner does: a request waits a
// moment for others, then one batch takes all that wait, in the order they were
// dispatched.
type fakeQueue struct {
	mu      sync.Mutex // held while a batch runs
	pending sync.Mutex
	waiting []*queuedFake
	batches [][]string
}

type queuedFake struct {
	*fake
	q    *fakeQueue
	seq  uint64
	done chan struct{}
}

func (r *queuedFake) Offloaded()            {}
func (r *queuedFake) Queue() any            { return r.q }
func (r *queuedFake) Dispatched(seq uint64) { r.seq = seq }

func (r *queuedFake) CheckApply(ctx context.Context, apply bool) (bool, error) {
	q := r.q
	r.done = make(chan struct{})
	q.pending.Lock()
	q.waiting = append(q.waiting, r)
	q.pending.Unlock()
	time.Sleep(30 * time.Millisecond)
	q.mu.Lock()
	q.pending.Lock()
	batch := q.waiting
	q.waiting = nil
	q.pending.Unlock()
	if len(batch) > 0 {
		sort.Slice(batch, func(i, j int) bool { return batch[i].seq < batch[j].seq })
		var names []string
		for _, b := range batch {
			names = append(names, b.name)
			b.fake.CheckApply(ctx, apply)
			close(b.done)
		}
		q.batches = append(q.batches, names)
	}
	q.mu.Unlock()
	<-r.done
	return false, nil
}

// Resources of one queue chained by order edges are started together and join one
// batch, in the edges' order; a plain edge, or another queue, still waits.
func TestQueuedOrderEdges(t *testing.T) {
	rec := &recorder{}
	qa, qb := &fakeQueue{}, &fakeQueue{}
	g := NewGraph()
	add := func(name string, q *fakeQueue) {
		f := &fake{name: name, rec: rec}
		var res Resource = f
		if q != nil {
			res = &queuedFake{fake: f, q: q}
		}
		if err := g.AddVertex(&Vertex{Name: name, Resource: res}); err != nil {
			t.Fatal(err)
		}
	}
	// Catalog order puts a3 first: only the order edges make a1 a2 a3.
	add("a3", qa)
	add("a2", qa)
	add("a1", qa)
	add("a4", qa) // after a1 through a plain edge: its own batch
	add("b1", qb) // another queue, ordered after a1
	for _, e := range [][2]string{{"a1", "a2"}, {"a2", "a3"}, {"a1", "b1"}} {
		if err := g.AddOrderEdge(e[0], e[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.AddEdge("a1", "a4", false); err != nil {
		t.Fatal(err)
	}
	runOnce(t, Config{Observer: rec}, g)
	if want := [][]string{{"a1", "a2", "a3"}, {"a4"}}; !reflect.DeepEqual(qa.batches, want) {
		t.Errorf("queue a ran batches %v, want %v", qa.batches, want)
	}
	if want := [][]string{{"b1"}}; !reflect.DeepEqual(qb.batches, want) {
		t.Errorf("queue b ran batches %v, want %v", qb.batches, want)
	}
	if i, j := rec.index("end a1"), rec.index("start b1"); i < 0 || j < i {
		t.Errorf("b1 (another queue) started before a1 ended: %v", rec.events)
	}
}
