package collect

import (
	"context"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/exported"
)

// Collector rebuilds a node's catalog with what its collectors answer now.
type Collector struct {
	// Store is where exports and collector queries are.
	Store exported.Store
	// Catalog is the node's catalog as compiled; its Name is the node's certname.
	Catalog *catalog.Catalog
	// Allowed says whether resources of a type may be collected live. Types that
	// run commands (Exec) should not be, unless the operator says so.
	Allowed func(typ string) bool
	// Apply takes a rebuilt catalog into the running engine (translate, then swap).
	Apply func(ctx context.Context, c *catalog.Catalog) error
	// Warnf reports what is left out, once per cause.
	Warnf func(format string, args ...any)

	mu      sync.Mutex
	current string          // digest of the collected set applied last
	cache   *exported.Cache // once following etcd: what Build reads
	kick    chan struct{}   // a change reached the cache
	warned  map[string]bool
}

// source is what a Collector reads: the Store itself, or a Cache of it. Collected
// returns the node's collector queries and, for each, the exports that answer it.
type source interface {
	Collected(ctx context.Context) ([]*exported.Query, [][]exported.Resource, error)
}

// storeSource reads a node's collected exports from the Store, one query after
// the other.
type storeSource struct {
	store    exported.Store
	certname string
}

func (s storeSource) Collected(ctx context.Context) ([]*exported.Query, [][]exported.Resource, error) {
	return exported.Collected(ctx, s.store, s.certname)
}

// source returns the cache once Run has one, else the Store.
func (c *Collector) source() source {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache != nil {
		return c.cache
	}
	return storeSource{store: c.Store, certname: c.Catalog.Name}
}

// Build returns the node's catalog with its collected resources as etcd has them
// now (as the cache has them, once Run keeps one), and a digest of that set.
// Without collector queries the catalog is returned as compiled.
func (c *Collector) Build(ctx context.Context) (*catalog.Catalog, string, error) {
	me := c.Catalog.Name
	queries, collected, err := c.source().Collected(ctx)
	if err != nil {
		return nil, "", err
	}
	if len(queries) == 0 {
		return c.Catalog, "", nil
	}
	want := map[string]*exported.Resource{}
	wantQuery := map[string]int{} // the first query that collects each ref
	dups := map[string]bool{}     // exported by two nodes: collected from neither
	for qi, found := range collected {
		for i := range found {
			r := &found[i]
			if r.Certname == me {
				continue // the compiler realizes a node's own exports
			}
			if strings.Contains(r.Type, "::") {
				// A defined type's body is only known to the compiler.
				c.warnOnce("defined:"+r.Ref(), "not collecting %s from %s live: %s is a defined type, which only the compiler can expand; it arrives with the next compile",
					r.Ref(), r.Certname, r.Type)
				continue
			}
			if c.Allowed != nil && !c.Allowed(r.Type) {
				c.warnOnce("type:"+r.Type, "not collecting %s from %s: type %s may not be collected (--collect-types)",
					r.Ref(), r.Certname, r.Type)
				continue
			}
			ref := r.Ref()
			if dups[ref] {
				continue
			}
			if other, dup := want[ref]; dup && other.Certname != r.Certname {
				c.warnOnce("dup:"+ref, "A duplicate resource was found while collecting exported resources, with the type and title %s (from %s and %s): not collected",
					ref, other.Certname, r.Certname)
				delete(want, ref)
				dups[ref] = true
				continue
			}
			want[ref] = r
			if _, ok := wantQuery[ref]; !ok {
				wantQuery[ref] = qi
			}
		}
	}

	parent := map[string]string{}
	for _, e := range c.Catalog.Edges {
		parent[e.Target] = e.Source
	}
	// The resources the compiler collected: no manifest position, not exported,
	// and answering a collector (as exported resources of an unknown node).
	queryContainer := map[int]string{}
	collectedAtCompile := map[string]bool{}
	local := map[string]bool{}
	for i := range c.Catalog.Resources {
		r := &c.Catalog.Resources[i]
		if r.Exported {
			// The node's own exports that its collectors take sit where the
			// collector is: so will the resources collected from others.
			if qi := matching(r, queries); qi >= 0 {
				if _, ok := queryContainer[qi]; !ok {
					queryContainer[qi] = parent[r.Ref()]
				}
			}
		}
		if qi := compiledCollected(r, queries); qi >= 0 {
			collectedAtCompile[r.Ref()] = true
			if _, ok := queryContainer[qi]; !ok {
				queryContainer[qi] = parent[r.Ref()]
			}
			continue
		}
		local[r.Ref()] = true
	}

	out := *c.Catalog
	out.Resources = make([]catalog.Resource, 0, len(c.Catalog.Resources)+len(want))
	out.Edges = make([]catalog.Edge, 0, len(c.Catalog.Edges)+len(want))
	placed := map[string]bool{}
	for _, r := range c.Catalog.Resources {
		ref := r.Ref()
		if collectedAtCompile[ref] {
			w, still := want[ref]
			if !still {
				continue // no longer exported: no longer managed, as after a recompile
			}
			r.Parameters, r.Tags = params(w), w.Tags
			placed[ref] = true
		}
		out.Resources = append(out.Resources, r)
	}
	for _, e := range c.Catalog.Edges {
		if collectedAtCompile[e.Target] && !placed[e.Target] {
			continue
		}
		out.Edges = append(out.Edges, e)
	}
	refs := make([]string, 0, len(want))
	for ref := range want {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	var digest catalog.Digest
	digest.Reset()
	main := mainContainer(c.Catalog)
	for _, ref := range refs {
		w := want[ref]
		digest.String(ref)
		digest.String(w.Certname)
		digest.Value(w.Parameters)
		digest.String(strconv.Itoa(len(w.Tags))) // the tags go into the catalog too
		for _, t := range w.Tags {
			digest.String(t)
		}
		if placed[ref] {
			continue
		}
		if local[ref] {
			c.warnOnce("local:"+ref, "not collecting %s from %s: the catalog declares it already", ref, w.Certname)
			continue
		}
		container := queryContainer[wantQuery[ref]]
		if container == "" {
			container = main
		}
		out.Resources = append(out.Resources, catalog.Resource{Type: w.Type, Title: w.Title, Tags: w.Tags,
			Kind: kind(c.Catalog), Parameters: params(w)})
		if container != "" {
			out.Edges = append(out.Edges, catalog.Edge{Source: container, Target: ref})
		}
	}
	return &out, hex.EncodeToString(digest.Sum()), nil
}

// compiledCollected returns the index of the first query that r, a resource of the
// compiled catalog, answers as a collected resource; -1 when r is the node's own.
func compiledCollected(r *catalog.Resource, queries []*exported.Query) int {
	if r.Exported || r.File != "" || r.Line != 0 || r.Kind == "class" || r.Kind == "defined_type" {
		return -1
	}
	return matching(r, queries)
}

// matching returns the index of the first query r answers, seen as an export of an
// unknown node; -1 when none does.
func matching(r *catalog.Resource, queries []*exported.Query) int {
	view := exported.Resource{Type: r.Type, Title: r.Title, Tags: r.Tags, Exported: true, Parameters: r.Parameters}
	for i, q := range queries {
		if q.Match(&view) {
			return i
		}
	}
	return -1
}

// mainContainer is Class[main] (its title as the catalog spells it), else Stage[main].
func mainContainer(c *catalog.Catalog) string {
	stage := ""
	for _, r := range c.Resources {
		if r.Type == "Class" && strings.EqualFold(r.Title, "main") {
			return r.Ref()
		}
		if r.Type == "Stage" && r.Title == "main" {
			stage = r.Ref()
		}
	}
	return stage
}

func kind(c *catalog.Catalog) string {
	if c.CatalogFormat >= 2 {
		return "compilable_type"
	}
	return ""
}

// params copies an exported resource's parameters without the metaparameters that
// only meant something on the exporting node.
func params(r *exported.Resource) map[string]any {
	out := make(map[string]any, len(r.Parameters))
	for k, v := range r.Parameters {
		switch k {
		case "require", "before", "notify", "subscribe":
			continue
		}
		out[k] = v
	}
	return out
}

func (c *Collector) warnOnce(key, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.warned == nil {
		c.warned = map[string]bool{}
	}
	if c.warned[key] || c.Warnf == nil {
		return
	}
	c.warned[key] = true
	c.Warnf(format, args...)
}

// Start records the digest of the collected set the engine starts with.
func (c *Collector) Start(digest string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.current = digest
}

// Sync rebuilds the catalog and applies it when the collected set changed.
func (c *Collector) Sync(ctx context.Context) error {
	cat, digest, err := c.Build(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	same := digest == c.current
	c.mu.Unlock()
	if same {
		return nil
	}
	if err := c.Apply(ctx, cat); err != nil {
		return err
	}
	c.mu.Lock()
	c.current = digest
	c.mu.Unlock()
	return nil
}

// Follow starts the cache that Build reads from then on (exported.Cache: one
// read of etcd, then its watch) until ctx ends; Run starts it when it is not
// started yet. A node that will collect live follows before its first Build, so
// that it reads the exports once.
func (c *Collector) Follow(ctx context.Context) error {
	c.mu.Lock()
	if c.cache != nil {
		c.mu.Unlock()
		return nil
	}
	if c.kick == nil {
		c.kick = make(chan struct{}, 1)
	}
	c.mu.Unlock()
	// Not under c.mu: the first read may take a while. Follow and Run are called
	// one after the other, never together.
	cache, err := c.Store.Inform(ctx, c.Catalog.Name, c.poke)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.cache = cache
	c.mu.Unlock()
	return nil
}

// poke tells Run that something changed; changes that come while it syncs are
// taken together.
func (c *Collector) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Run follows etcd (Follow) and syncs after every change that reaches the cache,
// until ctx ends. A failed sync is tried again a second later.
func (c *Collector) Run(ctx context.Context) {
	for {
		err := c.Follow(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		c.warnOnce("inform:"+err.Error(), "collecting: %v", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	poke, kick := c.poke, c.kick
	poke() // what changed between the compile and the first read
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
			c.warnOnce("sync:"+err.Error(), "collecting: %v", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				poke()
			}
		}
	}
}
