package engine

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// TestEdgesDeduplicated adds random edges, many twice or more, of every kind and
// between light and heavy vertices (self-loops too), and checks the graph
// against a plain model: one edge per pair, refresh if any addition refreshed,
// order only if every addition was an order edge, each edge once in both lists.
func TestEdgesDeduplicated(t *testing.T) {
	for _, tc := range []struct {
		name           string
		vertices, adds int
	}{
		{"light", 50, 400},
		{"heavy", 200, 40000}, // a mean of 400 edges per vertex: most are heavy
		{"mixed", 2000, 30000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.vertices)))
			g := NewGraph()
			for i := 0; i < tc.vertices; i++ {
				if err := g.AddVertex(&Vertex{Name: strconv.Itoa(i)}); err != nil {
					t.Fatal(err)
				}
			}
			type flags struct{ refresh, order bool }
			model := map[[2]int]flags{}
			for i := 0; i < tc.adds; i++ {
				// Skewed ends: a few vertices get most edges.
				f, to := rng.IntN(tc.vertices), rng.IntN(tc.vertices)
				if rng.IntN(3) == 0 {
					f = rng.IntN(1 + tc.vertices/20)
				}
				key := [2]int{f, to}
				old, seen := model[key]
				var err error
				switch kind := rng.IntN(3); kind {
				case 0:
					err = g.AddOrderEdge(strconv.Itoa(f), strconv.Itoa(to))
					if !seen {
						model[key] = flags{order: true}
					}
				default:
					refresh := kind == 2
					err = g.AddEdge(strconv.Itoa(f), strconv.Itoa(to), refresh)
					model[key] = flags{refresh: old.refresh || refresh}
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			got := map[[2]int]flags{}
			for _, e := range g.Edges() {
				f, _ := strconv.Atoi(e.From)
				to, _ := strconv.Atoi(e.To)
				key := [2]int{f, to}
				if _, dup := got[key]; dup {
					t.Fatalf("edge %v listed twice", key)
				}
				got[key] = flags{refresh: e.Refresh, order: e.Order}
			}
			if len(got) != len(model) {
				t.Fatalf("%d edges, want %d", len(got), len(model))
			}
			for key, want := range model {
				if got[key] != want {
					t.Errorf("edge %v: %+v, want %+v", key, got[key], want)
				}
			}
			// The incoming lists hold the same edges, each pointing back at its twin.
			for v := range g.in {
				for _, e := range g.in[v] {
					twin := g.out[e.to][e.peer]
					if int(twin.to) != v || twin.refresh != e.refresh || twin.order != e.order {
						t.Fatalf("in[%d] edge from %d: twin %+v does not match %+v", v, e.to, twin, e)
					}
				}
				for _, e := range g.out[v] {
					if twin := g.in[e.to][e.peer]; int(twin.to) != v {
						t.Fatalf("out[%d] edge to %d: twin points to %d", v, e.to, twin.to)
					}
				}
			}
			heavy := 0
			for v := range g.vertices {
				if g.heavy(int32(v)) {
					heavy++
				}
			}
			t.Logf("%d edges, %d heavy vertices, %d indexed edges", len(model), heavy, len(g.heavyEdges))
			if tc.name == "heavy" && len(g.heavyEdges) == 0 {
				t.Error("no edge between heavy vertices was indexed: the test does not reach that path")
			}
			// Self-loops are cycles.
			cycles := g.Cycles()
			for key := range model {
				if key[0] == key[1] && !slices.ContainsFunc(cycles, func(c []string) bool {
					return len(c) == 1 && c[0] == strconv.Itoa(key[0])
				}) && !inBiggerCycle(cycles, strconv.Itoa(key[0])) {
					t.Errorf("self-loop on %d not reported as a cycle", key[0])
				}
			}
		})
	}
}

func inBiggerCycle(cycles [][]string, v string) bool {
	for _, c := range cycles {
		if len(c) > 1 && slices.Contains(c, v) {
			return true
		}
	}
	return false
}
