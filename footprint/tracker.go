package footprint

import (
	"sort"
	"strings"
)

// Conflict is an earlier resource that a new one must come after.
type Conflict struct {
	// ID is the earlier resource's, as given to Add.
	ID int
	// Earlier and Later are the accesses that overlap: the earlier resource's and
	// the new one's.
	Earlier, Later Access
}

// Tracker finds, for each resource in turn, the earlier resources it conflicts with.
// The zero value is not usable; use NewTracker.
type Tracker struct {
	root *node
}

// entry is one resource's access recorded at a trie node.
type entry struct {
	id     int
	group  string
	access Access
}

// node is a trie node: one key. Writers and readers are those still needed for
// later conflicts; exact readers cover the key, tree ones the key and its subtree.
// Every writer is a tree one: a write of a key changes what is under it (Overlap).
type node struct {
	kids                 map[string]*node
	exactR, treeW, treeR []entry
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker { return &Tracker{root: &node{}} }

// Add records f as resource id's footprint, after every footprint added before, and
// returns the earlier resources that id must come after: at most one Conflict per
// earlier resource. An earlier resource left out is ordered before id through those
// returned (or conflicts with none of its accesses).
func (t *Tracker) Add(id int, f Footprint) []Conflict {
	var out []Conflict
	seen := map[int]int{} // id → index in out
	for _, a := range f.Accesses {
		t.conflicts(a, f.Group, func(e entry) {
			if e.id == id {
				return
			}
			if i, ok := seen[e.id]; ok {
				// The same answer whatever order the trie is walked in.
				if c := &out[i]; c.Later == a && e.access.Key < c.Earlier.Key {
					c.Earlier = e.access
				}
				return
			}
			seen[e.id] = len(out)
			out = append(out, Conflict{ID: e.id, Earlier: e.access, Later: a})
		})
	}
	for _, a := range f.Accesses {
		t.record(id, f.Group, a)
	}
	// In the order the resources were added, whatever order the trie was walked in.
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// walk returns the node of key, creating it and the nodes above it, and calls visit
// (when not nil) on each node from the root down to it.
func (t *Tracker) walk(key string, visit func(*node)) *node {
	n := t.root
	if visit != nil {
		visit(n)
	}
	if key == All {
		return n
	}
	ns, rest := "", key
	if i := strings.IndexByte(key, ':'); i >= 0 && !strings.HasPrefix(key, "/") {
		ns, rest = key[:i], key[i+1:]
	}
	step := func(c string) {
		k := n.kids[c]
		if k == nil {
			if n.kids == nil {
				n.kids = map[string]*node{}
			}
			k = &node{}
			n.kids[c] = k
		}
		n = k
		if visit != nil {
			visit(n)
		}
	}
	step(ns)
	for rest != "" {
		var c string
		c, rest, _ = strings.Cut(rest, "/")
		if c != "" {
			step(c)
		}
	}
	return n
}

// conflicts calls found for each recorded entry a conflicts with.
func (t *Tracker) conflicts(a Access, group string, found func(entry)) {
	check := func(es []entry) {
		for _, e := range es {
			if (group == "" || e.group != group) && (a.Write || e.access.Write) {
				found(e)
			}
		}
	}
	// Tree accesses of the key and of every key above it cover a.
	last := t.walk(a.Key, func(n *node) {
		check(n.treeW)
		if a.Write {
			check(n.treeR)
		}
	})
	if a.Write {
		check(last.exactR)
	}
	if a.Tree || a.Write {
		// a covers everything under its key.
		var below func(*node)
		below = func(n *node) {
			for _, k := range n.kids {
				check(k.treeW)
				if a.Write {
					check(k.exactR)
					check(k.treeR)
				}
				below(k)
			}
		}
		below(last)
	}
}

// record notes a as resource id's access. A write stands for the entries it came
// after from then on: they are dropped. A write of a group drops nothing: later
// resources of its group are not ordered after it, so it cannot stand for anything
// for them.
func (t *Tracker) record(id int, group string, a Access) {
	n := t.walk(a.Key, nil)
	e := entry{id: id, group: group, access: a}
	keep := func(es []entry) []entry {
		if group == "" {
			return es[:0]
		}
		return es
	}
	switch {
	case !a.Write && a.Tree:
		n.treeR = append(n.treeR, e)
	case !a.Write:
		n.exactR = append(n.exactR, e)
	default:
		n.treeW = append(keep(n.treeW), e)
		n.treeR = keep(n.treeR)
		n.exactR = keep(n.exactR)
		var clear func(*node)
		clear = func(n *node) {
			for c, k := range n.kids {
				k.exactR, k.treeW, k.treeR = keep(k.exactR), keep(k.treeW), keep(k.treeR)
				clear(k)
				if len(k.kids) == 0 && len(k.exactR)+len(k.treeW)+len(k.treeR) == 0 {
					delete(n.kids, c)
				}
			}
		}
		if group == "" {
			clear(n)
		}
	}
}
