package footprint

import (
	"cmp"
	"slices"
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

// searchLimit is how many conflicts Add looks through one by one before it
// indexes them: most resources have none or one.
const searchLimit = 16

// NewTracker returns an empty tracker.
func NewTracker() *Tracker { return &Tracker{root: &node{}} }

// Add records f as resource id's footprint, after every footprint added before, and
// returns the earlier resources that id must come after: at most one Conflict per
// earlier resource. An earlier resource left out is ordered before id through those
// returned (or conflicts with none of its accesses).
func (t *Tracker) Add(id int, f Footprint) []Conflict {
	c := collector{id: id, group: f.Group}
	for _, a := range f.Accesses {
		c.later = a
		t.conflicts(&c)
	}
	for _, a := range f.Accesses {
		t.record(id, f.Group, a)
	}
	// In the order the resources were added, whatever order the trie was walked in.
	if len(c.out) > 1 {
		slices.SortFunc(c.out, func(a, b Conflict) int { return cmp.Compare(a.ID, b.ID) })
	}
	return c.out
}

// collector gathers the conflicts of one resource's accesses.
type collector struct {
	id    int    // the resource's
	group string // its footprint's
	later Access // the access being looked at
	out   []Conflict
	seen  map[int]int // id → index in out, once out is too long to search
}

// index returns the index in out of the conflict with the resource id.
func (c *collector) index(id int) (int, bool) {
	if c.seen != nil {
		i, ok := c.seen[id]
		return i, ok
	}
	for i := range c.out {
		if c.out[i].ID == id {
			return i, true
		}
	}
	return 0, false
}

// check adds the entries among es that conflict with c.later.
func (c *collector) check(es []entry) {
	a := c.later
	for _, e := range es {
		if (c.group != "" && e.group == c.group) || !(a.Write || e.access.Write) || e.id == c.id {
			continue
		}
		if i, ok := c.index(e.id); ok {
			// The same answer whatever order the trie is walked in.
			if x := &c.out[i]; x.Later == a && e.access.Key < x.Earlier.Key {
				x.Earlier = e.access
			}
			continue
		}
		c.out = append(c.out, Conflict{ID: e.id, Earlier: e.access, Later: a})
		switch {
		case c.seen != nil:
			c.seen[e.id] = len(c.out) - 1
		case len(c.out) > searchLimit:
			c.seen = make(map[int]int, 2*len(c.out))
			for i, x := range c.out {
				c.seen[x.ID] = i
			}
		}
	}
}

// walk returns the node of key, creating it and the nodes above it; with c not
// nil, it checks c's access against each node's entries that cover it, from the
// root down.
func (t *Tracker) walk(key string, c *collector) *node {
	n := t.root
	c.visit(n)
	if key == All {
		return n
	}
	ns, rest := "", key
	if i := strings.IndexByte(key, ':'); i >= 0 && !strings.HasPrefix(key, "/") {
		ns, rest = key[:i], key[i+1:]
	}
	n = n.kid(ns)
	c.visit(n)
	for rest != "" {
		var name string
		name, rest, _ = strings.Cut(rest, "/")
		if name != "" {
			n = n.kid(name)
			c.visit(n)
		}
	}
	return n
}

// kid returns n's child named name, made when missing.
func (n *node) kid(name string) *node {
	k := n.kids[name]
	if k == nil {
		if n.kids == nil {
			n.kids = map[string]*node{}
		}
		k = &node{}
		n.kids[name] = k
	}
	return k
}

// visit checks c's access against the tree entries of n, a node on the way to
// its key, which cover it. A nil c checks nothing.
func (c *collector) visit(n *node) {
	if c == nil {
		return
	}
	c.check(n.treeW)
	if c.later.Write {
		c.check(n.treeR)
	}
}

// below checks c's access, which covers everything under its key, against the
// entries of every node under n.
func (c *collector) below(n *node) {
	for _, k := range n.kids {
		c.check(k.treeW)
		if c.later.Write {
			c.check(k.exactR)
			c.check(k.treeR)
		}
		c.below(k)
	}
}

// conflicts adds to c the recorded entries c.later conflicts with.
func (t *Tracker) conflicts(c *collector) {
	a := c.later
	// Tree accesses of the key and of every key above it cover a.
	last := t.walk(a.Key, c)
	if a.Write {
		c.check(last.exactR)
	}
	if a.Tree || a.Write {
		c.below(last)
	}
}

// record notes a as resource id's access. A write stands for the entries it came
// after from then on: they are dropped. A write of a group drops nothing: later
// resources of its group are not ordered after it, so it cannot stand for anything
// for them.
func (t *Tracker) record(id int, group string, a Access) {
	n := t.walk(a.Key, nil)
	e := entry{id: id, group: group, access: a}
	switch {
	case !a.Write && a.Tree:
		n.treeR = append(n.treeR, e)
	case !a.Write:
		n.exactR = append(n.exactR, e)
	case group != "":
		n.treeW = append(n.treeW, e)
	default:
		n.treeW = append(n.treeW[:0], e)
		n.treeR, n.exactR = n.treeR[:0], n.exactR[:0]
		n.clear()
	}
}

// clear drops the entries of every node under n, and the nodes left empty.
func (n *node) clear() {
	for name, k := range n.kids {
		k.exactR, k.treeW, k.treeR = k.exactR[:0], k.treeW[:0], k.treeR[:0]
		k.clear()
		if len(k.kids) == 0 {
			delete(n.kids, name)
		}
	}
}
