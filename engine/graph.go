package engine

import (
	"container/heap"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
)

// Vertex is one resource in the graph.
type Vertex struct {
	// Name is unique in the graph ("File[/etc/motd]").
	Name string
	// Resource does the work. Never nil, except for a vertex that is Skip.
	Resource Resource
	// Noop: check the resource, report what would change, change nothing.
	Noop bool
	// Skip: the vertex is not evaluated at all; ordering still passes through it, and
	// neither events nor failures do.
	Skip bool
	// Relay: the vertex has no resource and is not evaluated; it passes ordering and
	// failures through, and the refresh events it receives as one event (a
	// container's start or end).
	Relay bool
	// Fingerprint identifies the vertex's desired state: when a new graph is swapped
	// in, a vertex with the same Name and Fingerprint keeps its running resource.
	Fingerprint string
	// Data is opaque to the engine; observers use it to describe the vertex.
	Data any
	// at is the vertex's position in the graph it was last added to: the
	// methods given vertices find them without looking up their names.
	at int32
}

func (v *Vertex) String() string {
	if v == nil {
		return "<nil>"
	}
	return v.Name
}

// inert vertices have no resource and are never evaluated.
func (v *Vertex) inert() bool { return v.Skip || v.Relay }

type edge struct {
	to int32
	// peer is the index of the same edge in the other end's list: in in[to] for an
	// edge of out, in out[to] for an edge of in.
	peer    int32
	refresh bool
	// order: the edge only orders its ends (see AddOrderEdge); a failure does not
	// pass along it.
	order bool
}

// Graph is a directed graph of vertices in insertion order; an edge a→b means b depends
// on a (a runs first). Insertion order is the tie-break for what starts first.
type Graph struct {
	vertices []*Vertex
	index    map[string]int32
	out, in  [][]edge
	// heavyEdges indexes the edges between two heavy vertices (see find): the
	// index of the edge in out[from].
	heavyEdges map[[2]int32]int32
	spare      []edge // room for first edges (appendEdge)
}

// heavyDegree is the number of edges above which a vertex is heavy: finding
// whether it has an edge to or from another heavy vertex goes through
// heavyEdges rather than through its list of edges.
const heavyDegree = 64

// NewGraph returns an empty graph.
func NewGraph() *Graph {
	return &Graph{index: map[string]int32{}}
}

// Grow makes room for n more vertices, so that adding them allocates less.
func (g *Graph) Grow(n int) {
	g.vertices = slices.Grow(g.vertices, n)
	g.out = slices.Grow(g.out, n)
	g.in = slices.Grow(g.in, n)
	if len(g.index) == 0 {
		g.index = make(map[string]int32, n)
	}
}

// AddVertex adds v; its name must be new.
func (g *Graph) AddVertex(v *Vertex) error {
	if _, ok := g.index[v.Name]; ok {
		return fmt.Errorf("duplicate vertex %s", v.Name)
	}
	v.at = int32(len(g.vertices))
	g.index[v.Name] = v.at
	g.vertices = append(g.vertices, v)
	g.out = append(g.out, nil)
	g.in = append(g.in, nil)
	return nil
}

// AddEdge makes to depend on from; with refresh, changes of from are sent to to as
// refresh events. Adding an edge twice keeps one edge, which refreshes if either did.
func (g *Graph) AddEdge(from, to string, refresh bool) error {
	return g.addEdge(from, to, refresh, false)
}

// AddOrderEdge makes to wait for from's evaluation (or skip) to end, and no more: no
// refresh events and no failures pass along it, so to runs whatever from's outcome.
// It is how two resources that Puppet would run one after the other, and that may
// interfere, keep that order. An AddEdge between the same vertices, before or after,
// makes it a plain edge.
func (g *Graph) AddOrderEdge(from, to string) error {
	return g.addEdge(from, to, false, true)
}

// AddEdgeBetween is AddEdge given the vertices rather than their names.
func (g *Graph) AddEdgeBetween(from, to *Vertex, refresh bool) error {
	return g.addEdgeBetween(from, to, refresh, false)
}

// AddOrderEdgeBetween is AddOrderEdge given the vertices rather than their names.
func (g *Graph) AddOrderEdgeBetween(from, to *Vertex) error {
	return g.addEdgeBetween(from, to, false, true)
}

func (g *Graph) addEdgeBetween(from, to *Vertex, refresh, order bool) error {
	f, ok := g.pos(from)
	if !ok {
		return fmt.Errorf("edge %v -> %v: no vertex %v", from, to, from)
	}
	t, ok := g.pos(to)
	if !ok {
		return fmt.Errorf("edge %v -> %v: no vertex %v", from, to, to)
	}
	g.addEdgeAt(f, t, refresh, order)
	return nil
}

// pos is v's position in g.
func (g *Graph) pos(v *Vertex) (int32, bool) {
	if v == nil {
		return 0, false
	}
	if int(v.at) < len(g.vertices) && g.vertices[v.at] == v {
		return v.at, true
	}
	i, ok := g.index[v.Name] // v was added to another graph since, or is a copy
	return i, ok && g.vertices[i] == v
}

func (g *Graph) addEdge(from, to string, refresh, order bool) error {
	f, ok := g.index[from]
	if !ok {
		return fmt.Errorf("edge %s -> %s: no vertex %s", from, to, from)
	}
	t, ok := g.index[to]
	if !ok {
		return fmt.Errorf("edge %s -> %s: no vertex %s", from, to, to)
	}
	g.addEdgeAt(f, t, refresh, order)
	return nil
}

func (g *Graph) addEdgeAt(f, t int32, refresh, order bool) {
	if i := g.find(f, t); i >= 0 {
		if order {
			return
		}
		e := &g.out[f][i]
		e.refresh, e.order = e.refresh || refresh, false
		back := &g.in[t][e.peer]
		back.refresh, back.order = e.refresh, false
		return
	}
	fHeavy, tHeavy := g.heavy(f), g.heavy(t)
	g.out[f] = g.appendEdge(g.out[f], edge{to: t, peer: int32(len(g.in[t])), refresh: refresh, order: order})
	g.in[t] = g.appendEdge(g.in[t], edge{to: f, peer: int32(len(g.out[f]) - 1), refresh: refresh, order: order})
	if !fHeavy && g.heavy(f) {
		g.becameHeavy(f)
	}
	if !tHeavy && g.heavy(t) {
		g.becameHeavy(t)
	}
	if g.heavy(f) && g.heavy(t) {
		g.indexHeavy(f, t, int32(len(g.out[f])-1))
	}
}

// appendEdge appends e to list. A vertex's first edge of one direction gets a list
// with room for two carved out of a shared block: most vertices have one or two
// (a resource's container and the folder it is in), and a list of its own each
// was most of what building a large graph allocated.
func (g *Graph) appendEdge(list []edge, e edge) []edge {
	if cap(list) == 0 {
		if len(g.spare) < 2 {
			g.spare = make([]edge, 2*edgeBlock)
		}
		list, g.spare = g.spare[:0:2], g.spare[2:]
	}
	return append(list, e)
}

// edgeBlock is how many vertices' first edges appendEdge allocates at a time.
const edgeBlock = 1024

// find returns the index in out[f] of the edge f→t, or -1. Most vertices have a
// few edges: the list of one end is searched, so that building a graph keeps no
// index of its edges. Between two heavy vertices it looks in heavyEdges.
func (g *Graph) find(f, t int32) int32 {
	switch {
	case !g.heavy(f):
		for i, e := range g.out[f] {
			if e.to == t {
				return int32(i)
			}
		}
		return -1
	case !g.heavy(t):
		for _, e := range g.in[t] {
			if e.to == f {
				return e.peer
			}
		}
		return -1
	}
	if i, ok := g.heavyEdges[[2]int32{f, t}]; ok {
		return i
	}
	return -1
}

func (g *Graph) heavy(v int32) bool { return len(g.out[v])+len(g.in[v]) > heavyDegree }

// becameHeavy indexes v's edges to and from the other heavy vertices.
func (g *Graph) becameHeavy(v int32) {
	for i, e := range g.out[v] {
		if g.heavy(e.to) {
			g.indexHeavy(v, e.to, int32(i))
		}
	}
	for _, e := range g.in[v] {
		if g.heavy(e.to) {
			g.indexHeavy(e.to, v, e.peer)
		}
	}
}

func (g *Graph) indexHeavy(f, t, i int32) {
	if g.heavyEdges == nil {
		g.heavyEdges = map[[2]int32]int32{}
	}
	g.heavyEdges[[2]int32{f, t}] = i
}

// Len is the number of vertices.
func (g *Graph) Len() int { return len(g.vertices) }

// Vertices returns the vertices in insertion order.
func (g *Graph) Vertices() []*Vertex { return g.vertices }

// Vertex returns the vertex named name, or nil.
func (g *Graph) Vertex(name string) *Vertex {
	i, ok := g.index[name]
	if !ok {
		return nil
	}
	return g.vertices[i]
}

// EdgeInfo describes one edge for callers outside the engine.
type EdgeInfo struct {
	From, To string
	Refresh  bool
	// Order: the edge only orders (AddOrderEdge).
	Order bool
}

// Edges lists all edges, grouped by source in insertion order.
func (g *Graph) Edges() []EdgeInfo {
	var out []EdgeInfo
	for f, es := range g.out {
		for _, e := range es {
			out = append(out, EdgeInfo{From: g.vertices[f].Name, To: g.vertices[e.to].Name, Refresh: e.refresh, Order: e.order})
		}
	}
	return out
}

// DependsOn reports whether to depends directly on from through a plain edge (not
// an order edge).
func (g *Graph) DependsOn(to, from string) bool {
	f, ok := g.index[from]
	if !ok {
		return false
	}
	t, ok := g.index[to]
	if !ok {
		return false
	}
	return g.dependsOnAt(t, f)
}

// DependsOnVertex is DependsOn given the vertices rather than their names.
func (g *Graph) DependsOnVertex(to, from *Vertex) bool {
	f, ok := g.pos(from)
	if !ok {
		return false
	}
	t, ok := g.pos(to)
	if !ok {
		return false
	}
	return g.dependsOnAt(t, f)
}

func (g *Graph) dependsOnAt(t, f int32) bool {
	i := g.find(f, t)
	return i >= 0 && !g.out[f][i].order
}

// SerialOrder returns the vertices in the order a serial walk evaluates them: each
// time, of the vertices whose dependencies are all done, the one inserted first.
// This is Puppet's traversal (its relationship graph prioritised by catalog order),
// so on a graph translated from a catalog it is the order in which `puppet apply`
// evaluates the resources. Vertices on a cycle are left out.
func (g *Graph) SerialOrder() []*Vertex {
	n := len(g.vertices)
	blockers := make([]int32, n)
	for i := range g.in {
		blockers[i] = int32(len(g.in[i]))
	}
	ready := &indexHeap{}
	for i := range blockers {
		if blockers[i] == 0 {
			heap.Push(ready, int32(i))
		}
	}
	out := make([]*Vertex, 0, n)
	for ready.Len() > 0 {
		v := heap.Pop(ready).(int32)
		out = append(out, g.vertices[v])
		for _, e := range g.out[v] {
			if blockers[e.to]--; blockers[e.to] == 0 {
				heap.Push(ready, e.to)
			}
		}
	}
	return out
}

// indexHeap is a min-heap of vertex indices.
type indexHeap []int32

func (h indexHeap) Len() int           { return len(h) }
func (h indexHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h indexHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *indexHeap) Push(x any)        { *h = append(*h, x.(int32)) }
func (h *indexHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// CriticalPath is the number of evaluated vertices (neither Relay nor Skip) on the
// longest path of the graph: however many run at once, that many run one after the
// other. With plain, order edges are left out: the path the relationships alone make.
// The graph must be acyclic.
func (g *Graph) CriticalPath(plain bool) int {
	depth := make([]int, len(g.vertices))
	longest := 0
	for _, v := range g.SerialOrder() {
		i := g.index[v.Name]
		d := 0
		for _, e := range g.in[i] {
			if plain && e.order {
				continue
			}
			d = max(d, depth[e.to])
		}
		if !v.inert() {
			d++
		}
		depth[i] = d
		longest = max(longest, d)
	}
	return longest
}

// Ranks returns the rank function Precedes takes for order, a topological order
// of g's vertices (SerialOrder's): a vertex's position in order, -1 for one not
// in it.
func (g *Graph) Ranks(order []*Vertex) func(*Vertex) int {
	rank := make([]int32, len(g.vertices))
	for i := range rank {
		rank[i] = -1
	}
	for i, v := range order {
		if p, ok := g.pos(v); ok {
			rank[p] = int32(i)
		}
	}
	return func(v *Vertex) int {
		if p, ok := g.pos(v); ok {
			return int(rank[p])
		}
		return -1
	}
}

// precedesSearch is how many froms Precedes looks through one by one before it
// indexes them.
const precedesSearch = 8

// Precedes reports which of froms to already depends on, directly or through
// other vertices, along edges of any kind: found[i] for froms[i]. rank gives each
// vertex's position in a topological order of the graph (SerialOrder's, say); the
// walk back from to only looks at vertices ranked after the lowest of froms, and
// at no more than limit of them: complete is false when the limit stopped it, and
// then a from not found may still precede to.
func (g *Graph) Precedes(to *Vertex, froms []*Vertex, rank func(*Vertex) int, limit int) (found []bool, complete bool) {
	found = make([]bool, len(froms))
	t, ok := g.pos(to)
	if !ok || len(froms) == 0 {
		return found, true
	}
	at := make([]int32, len(froms)) // froms' positions, -1 for a vertex not in g
	low, want := -1, 0
	for i, f := range froms {
		at[i] = -1
		if p, ok := g.pos(f); ok {
			at[i] = p
			want++
			if r := rank(f); low < 0 || r < low {
				low = r
			}
		}
	}
	left := want
	var index map[int32][]int // froms' indexes by position, when too many to search
	if len(froms) > precedesSearch {
		index = make(map[int32][]int, len(froms))
		for i, p := range at {
			if p >= 0 {
				index[p] = append(index[p], i)
			}
		}
	}
	mark := func(u int32) {
		if index != nil {
			for _, i := range index[u] {
				if !found[i] {
					found[i] = true
					left--
				}
			}
			return
		}
		for i, p := range at {
			if p == u && !found[i] {
				found[i] = true
				left--
			}
		}
	}
	// Most often each of froms is a direct dependency (a File's parent folder,
	// autorequired): then no walk.
	for _, e := range g.in[t] {
		mark(e.to)
	}
	if left == 0 {
		return found, true
	}
	seen := map[int32]bool{t: true}
	stack := []int32{t}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range g.in[v] {
			u := e.to
			if seen[u] {
				continue
			}
			seen[u] = true
			mark(u)
			if rank(g.vertices[u]) <= low {
				continue
			}
			if len(seen) > limit {
				return found, false
			}
			stack = append(stack, u)
		}
	}
	return found, true
}

// Cycles returns every cycle of the graph as the list of its vertex names (each
// strongly connected component with more than one vertex, or a vertex depending on
// itself), sorted so that the output is stable. Nil means the graph is acyclic.
func (g *Graph) Cycles() [][]string {
	// Tarjan's algorithm, iterative so that long chains do not exhaust the stack.
	n := len(g.vertices)
	index := make([]int32, n)
	low := make([]int32, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int32
	var cycles [][]string
	next := int32(0)
	type frame struct {
		v int32
		e int
	}
	for root := 0; root < n; root++ {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{v: int32(root)}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, int32(root))
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			if f.e < len(g.out[f.v]) {
				w := g.out[f.v][f.e].to
				f.e++
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{v: w})
				} else if onStack[w] && index[w] < low[f.v] {
					low[f.v] = index[w]
				}
				continue
			}
			v := f.v
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				if low[v] < low[p] {
					low[p] = low[v]
				}
			}
			if low[v] != index[v] {
				continue
			}
			// The component is what the stack holds from v up; most are v alone.
			top := len(stack) - 1
			for stack[top] != v {
				top--
			}
			members := stack[top:]
			stack = stack[:top]
			for _, w := range members {
				onStack[w] = false
			}
			if len(members) > 1 || g.find(v, v) >= 0 {
				comp := make([]string, len(members))
				for i, w := range members {
					comp[i] = g.vertices[w].Name
				}
				sort.Strings(comp)
				cycles = append(cycles, comp)
			}
		}
	}
	sort.Slice(cycles, func(i, j int) bool { return cycles[i][0] < cycles[j][0] })
	return cycles
}

// CyclePath returns one cycle through the vertices of comp (as found by Cycles), in
// edge order and closed (the first name repeated last), for an error message.
func (g *Graph) CyclePath(comp []string) []string {
	in := map[int32]bool{}
	for _, name := range comp {
		in[g.index[name]] = true
	}
	start := g.index[comp[0]]
	// Breadth-first search from start back to start, inside the component.
	prev := map[int32]int32{}
	queue := []int32{start}
	seen := map[int32]bool{}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range g.out[v] {
			if !in[e.to] {
				continue
			}
			if e.to == start {
				path := []string{g.vertices[start].Name}
				for x := v; x != start; x = prev[x] {
					path = append(path, g.vertices[x].Name)
				}
				path = append(path, g.vertices[start].Name)
				// Reverse the interior: it was collected backwards.
				for i, j := 1, len(path)-2; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			if !seen[e.to] {
				seen[e.to] = true
				prev[e.to] = v
				queue = append(queue, e.to)
			}
		}
	}
	return comp
}

// WriteDot writes the graph in Graphviz's dot language; refresh edges are dashed,
// order edges dotted.
func (g *Graph) WriteDot(w io.Writer, name string) error {
	if _, err := fmt.Fprintf(w, "digraph %s {\n\trankdir=LR;\n", strconv.Quote(name)); err != nil {
		return err
	}
	for _, v := range g.vertices {
		style := ""
		switch {
		case v.Skip:
			style = ", style=dotted"
		case v.Relay:
			style = ", shape=point"
		}
		if _, err := fmt.Fprintf(w, "\t%s [label=%s%s];\n", strconv.Quote(v.Name), strconv.Quote(v.Name), style); err != nil {
			return err
		}
	}
	for _, e := range g.Edges() {
		attr := ""
		switch {
		case e.Refresh:
			attr = " [style=dashed, label=\"refresh\"]"
		case e.Order:
			attr = " [style=dotted, label=\"order\"]"
		}
		if _, err := fmt.Fprintf(w, "\t%s -> %s%s;\n", strconv.Quote(e.From), strconv.Quote(e.To), attr); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "}\n")
	return err
}
