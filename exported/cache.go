package exported

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
)

// Cache is a running node's copy of what its collectors read: the exports of the
// types its collector queries name, which nodes' exports count only while they
// are alive and which of them are, and the node's own collector queries. It reads
// them once, at one revision, and then follows a watch of each key range from
// the next revision (list, then watch: the informer pattern of Kubernetes'
// client-go), so a change elsewhere costs the node one watch event instead of a
// new read of every export, and an export of a type it never collects costs it
// nothing (the exports by type, typesDir). A watch that ends (its member gone, the
// leader lost) is watched again from the last revision it delivered, after a
// pause with jitter, so that a leader election does not make every node read
// everything at once; only a watch whose revision was compacted away reads
// everything again, and so does a change of the collectors that changes the
// types they name. Nothing is missed, and an event applied again is harmless,
// since each one sets or removes one key.
//
// Its Resources and Collectors answer as the Store's do, from memory, for the
// queries of the node's collectors; what they return shares its tags and
// parameters with the cache, to be read only.
type Cache struct {
	s        *etcdStore
	certname string
	changed  func()

	mu         sync.Mutex
	types      []string             // the types whose exports it holds, sorted, unless all
	all        bool                 // it holds the exports of every type
	rev        map[string]int64     // per watched prefix, the revision its watch delivered up to
	resources  map[string]*Resource // by key
	sorted     []*Resource          // resources in Store.Resources' order; nil after a change
	leased     map[string]bool      // by certname
	alive      map[string]bool      // by certname
	collectors map[string]*Query    // by key
	bad        map[string]error     // keys whose values cannot be read: queries fail, naming them
	stats      CacheStats
}

// CacheStats counts what a Cache did besides following its watches.
type CacheStats struct {
	Relists   int // reads of everything after a compaction, or after a failed read
	Rewatches int // watches started again without a read
	Refocuses int // reads of everything because the collectors name other types
}

// collectorsPrefix is the prefix of the cache's node's collector queries.
func (c *Cache) collectorsPrefix() string { return collectorsDir + c.certname + "/" }

// exportPrefixes are the key ranges of the exports the cache holds: all of them,
// or those by type of its types.
func exportPrefixes(types []string, all bool) []string {
	if all {
		return []string{resourcesDir}
	}
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = typePrefix(t)
	}
	return out
}

// interest returns the types the collectors name, sorted, or all when one of them
// may collect any type.
func interest(collectors map[string]*Query) (types []string, all bool) {
	for _, q := range collectors {
		ts, any := q.Types()
		if any {
			return nil, true
		}
		types = append(types, ts...)
	}
	slices.Sort(types)
	return slices.Compact(types), false
}

// The pauses before a watch is started again or everything read again: from
// cacheRetryMin, doubled after each attempt that fails at once up to
// cacheRetryMax, each with up to as much again of jitter.
var cacheRetryMin, cacheRetryMax = 200 * time.Millisecond, 30 * time.Second

// Inform reads what certname's collectors need and keeps it current until ctx
// ends; changed is called (from one goroutine, never twice at once) after every
// change that reached the cache. It returns once the first read is done.
func (s *etcdStore) Inform(ctx context.Context, certname string, changed func()) (*Cache, error) {
	c := &Cache{s: s, certname: certname, changed: changed}
	if err := c.list(ctx); err != nil {
		return nil, err
	}
	go c.run(ctx)
	return c, nil
}

// list replaces the contents with a read of the liveness keys and the
// collectors, then of the exports of the types those collectors name, all at one
// revision. A value that cannot be read is kept as an error for its key, as
// Store's queries report it.
func (c *Cache) list(ctx context.Context) error {
	// The exports are read at the revision of the collectors: a compaction in
	// between makes that read fail, and the whole is read again at once.
	const attempts = 3
	for i := 1; ; i++ {
		err := c.listOnce(ctx)
		if i == attempts || !errors.Is(err, rpctypes.ErrCompacted) {
			return err
		}
	}
}

func (c *Cache) listOnce(ctx context.Context) error {
	resp, err := c.s.kv.Txn(ctx).Then(
		clientv3.OpGet(liveDir, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		clientv3.OpGet(c.collectorsPrefix(), clientv3.WithPrefix())).Commit()
	if err != nil {
		return err
	}
	rev := resp.Header.Revision
	resources, collectors, bad := map[string]*Resource{}, map[string]*Query{}, map[string]error{}
	leased, alive := map[string]bool{}, map[string]bool{}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		liveness(string(kv.Key), leased, alive, true)
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		setOrDelete(collectors, bad, string(kv.Key), true, kv.Value, decodeCollector)
	}
	types, all := interest(collectors)
	prefixes := exportPrefixes(types, all)
	if len(prefixes) > 0 {
		ops := make([]clientv3.Op, len(prefixes))
		for i, p := range prefixes {
			ops[i] = clientv3.OpGet(p, clientv3.WithPrefix(), clientv3.WithRev(rev))
		}
		resp, err := c.s.kv.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return err
		}
		for _, r := range resp.Responses {
			for _, kv := range r.GetResponseRange().Kvs {
				setOrDelete(resources, bad, string(kv.Key), true, kv.Value, decodeResourcePtr)
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rev = map[string]int64{liveDir: rev, c.collectorsPrefix(): rev}
	for _, p := range prefixes {
		c.rev[p] = rev
	}
	c.types, c.all = types, all
	c.resources, c.leased, c.alive, c.collectors, c.bad = resources, leased, alive, collectors, bad
	c.sorted = nil
	return nil
}

// Why a watch of the cache ended.
const (
	watchEnded     = iota // its member gone, the leader lost, ctx ended: watch again
	watchCompacted        // its revision is gone: read everything again
	watchRefocus          // the collectors name other types: read everything again, at once
)

// run follows the watches until ctx ends: after a watch ends it watches again
// from where each range was, and after a compaction, or when the collectors name
// other types, it reads everything again.
func (c *Cache) run(ctx context.Context) {
	retry := cacheRetryMin
	for {
		started := time.Now()
		end := c.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > cacheRetryMax {
			retry = cacheRetryMin // it ran a good while: not a failing cluster
		}
		if end == watchRefocus {
			if err := c.list(ctx); err == nil {
				c.mu.Lock()
				c.stats.Refocuses++
				c.mu.Unlock()
				c.changed()
				continue
			}
			end = watchCompacted // the read failed: read again after a pause
		}
		for {
			if !sleepJittered(ctx, retry) {
				return
			}
			retry = min(2*retry, cacheRetryMax)
			if end != watchCompacted {
				c.mu.Lock()
				c.stats.Rewatches++
				c.mu.Unlock()
				break
			}
			if err := c.list(ctx); err == nil {
				c.mu.Lock()
				c.stats.Relists++
				c.mu.Unlock()
				c.changed() // what the new read brought
				break
			}
		}
	}
}

// sleepJittered waits d and up to d more, or until ctx ends (false).
func sleepJittered(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d + rand.N(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// delivery is one response of the watch of one prefix.
type delivery struct {
	prefix string
	resp   clientv3.WatchResponse
	ok     bool // false: the watch ended
}

// follow applies the events of a watch of each range, from the revision after
// the one it was current to, until a watch ends or can no longer give every
// event since then, or the collectors name other types; it says which.
func (c *Cache) follow(ctx context.Context) int {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	// The liveness keys, the collectors and the first type are received here
	// directly; the watches of further types (most nodes collect one or two)
	// come through in, each from a goroutine of its own: a hop through another
	// goroutine for every response slows a wave down.
	var direct [3]clientv3.WatchChan
	in := make(chan delivery)
	c.mu.Lock()
	prefixes := append([]string{liveDir, c.collectorsPrefix()}, exportPrefixes(c.types, c.all)...)
	for i, p := range prefixes {
		// Progress notifications carry an idle range's revision forward, so that
		// watching it again does not start before a compaction.
		wc := c.s.watcher.Watch(wctx, p, clientv3.WithPrefix(), clientv3.WithRev(c.rev[p]+1), clientv3.WithProgressNotify())
		if i < len(direct) {
			direct[i] = wc
			continue
		}
		go func() {
			for {
				resp, ok := <-wc
				select {
				case in <- delivery{p, resp, ok}:
				case <-wctx.Done():
					return
				}
				if !ok {
					return
				}
			}
		}()
	}
	c.mu.Unlock()
	for {
		var d delivery
		select {
		case <-ctx.Done():
			return watchEnded
		case d.resp, d.ok = <-direct[0]:
			d.prefix = prefixes[0]
		case d.resp, d.ok = <-direct[1]:
			d.prefix = prefixes[1]
		case d.resp, d.ok = <-direct[2]: // nil, never ready, when no type is collected
			d.prefix = prefixes[2]
		case d = <-in:
		}
		switch {
		case d.ok && d.resp.CompactRevision != 0:
			return watchCompacted
		case !d.ok || d.resp.Canceled || d.resp.Err() != nil:
			return watchEnded
		case d.resp.IsProgressNotify():
			c.mu.Lock()
			c.rev[d.prefix] = max(c.rev[d.prefix], d.resp.Header.Revision)
			c.mu.Unlock()
		case len(d.resp.Events) > 0:
			if refocus := c.apply(d.prefix, d.resp.Events); refocus {
				return watchRefocus
			}
			c.changed()
		}
	}
}

// apply takes the events of one watch response of the range of prefix into the
// cache. Collector events that make the collectors name other types than those
// the cache holds are not taken in: it says so (refocus), and the read that
// follows takes in the collectors and their types together, so that the cache
// never holds a collector whose exports it does not hold.
func (c *Cache) apply(prefix string, events []*clientv3.Event) (refocus bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	collectors, bad := c.collectors, c.bad
	if prefix == c.collectorsPrefix() {
		collectors, bad = maps.Clone(c.collectors), maps.Clone(c.bad)
	}
	for _, ev := range events {
		key := string(ev.Kv.Key)
		put := ev.Type == clientv3.EventTypePut
		switch prefix {
		case liveDir:
			liveness(key, c.leased, c.alive, put)
		case c.collectorsPrefix():
			setOrDelete(collectors, bad, key, put, ev.Kv.Value, decodeCollector)
		default:
			c.sorted = nil
			setOrDelete(c.resources, c.bad, key, put, ev.Kv.Value, decodeResourcePtr)
		}
	}
	if prefix == c.collectorsPrefix() {
		if types, all := interest(collectors); all != c.all || !slices.Equal(types, c.types) {
			return true
		}
		c.collectors, c.bad = collectors, bad
	}
	for _, ev := range events {
		c.rev[prefix] = max(c.rev[prefix], ev.Kv.ModRevision)
	}
	return false
}

// setOrDelete sets m[key] to the decoded value of a put, or deletes it; a value
// that cannot be decoded leaves the key out of m and its error in bad.
func setOrDelete[T any](m map[string]T, bad map[string]error, key string, put bool, value []byte, decode func([]byte) (T, error)) {
	delete(bad, key)
	if !put {
		delete(m, key)
		return
	}
	v, err := decode(value)
	if err != nil {
		delete(m, key)
		bad[key] = fmt.Errorf("key %s: %w", key, err)
		return
	}
	m[key] = v
}

// badIn returns the error of the first key under one of prefixes whose value
// cannot be read, nil when there is none.
func (c *Cache) badIn(prefixes ...string) error {
	var first string
	for k := range c.bad {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) && (first == "" || k < first) {
				first = k
			}
		}
	}
	if first == "" {
		return nil
	}
	return c.bad[first]
}

func decodeResourcePtr(data []byte) (*Resource, error) {
	r, err := decodeResource(data)
	return &r, err
}

// Resources returns the exported resources that answer q, sorted by certname,
// type and title, as Store.Resources does. q must ask for types the cache holds,
// as the queries of its node's collectors do.
func (c *Cache) Resources(_ context.Context, q *Query) ([]Resource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resourcesLocked(q)
}

func (c *Cache) resourcesLocked(q *Query) ([]Resource, error) {
	if types, all := q.Types(); !c.all && (all || !subset(types, c.types)) {
		asked := "every type"
		if !all {
			asked = strings.Join(types, ", ")
		}
		return nil, fmt.Errorf("the cache of %s holds the exports of the types its collectors name (%s), not of %s",
			c.certname, strings.Join(c.types, ", "), asked)
	}
	if err := c.badIn(resourcesDir, typesDir); err != nil {
		return nil, err
	}
	if c.sorted == nil {
		// Sorted once per change, not once per query.
		c.sorted = make([]*Resource, 0, len(c.resources))
		for _, r := range c.resources {
			c.sorted = append(c.sorted, r)
		}
		sort.Slice(c.sorted, func(i, j int) bool { return lessResource(c.sorted[i], c.sorted[j]) })
	}
	out := make([]Resource, 0, len(c.sorted)) // a collector's query takes most of what the cache holds
	for _, r := range c.sorted {
		if c.leased[r.Certname] && !c.alive[r.Certname] {
			continue // its exports count only while it is alive, and it is not
		}
		if q.Match(r) {
			out = append(out, *r)
		}
	}
	return out, nil
}

// subset says whether every one of a is in sorted.
func subset(a, sorted []string) bool {
	for _, x := range a {
		if _, ok := slices.BinarySearch(sorted, x); !ok {
			return false
		}
	}
	return true
}

// Collectors returns the cache's node's collector queries, in key order as the
// Store's; certname must be that node.
func (c *Cache) Collectors(_ context.Context, certname string) ([]*Query, error) {
	if certname != c.certname {
		return nil, fmt.Errorf("the cache holds the collectors of %s, not of %s", c.certname, certname)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.collectorsLocked()
}

func (c *Cache) collectorsLocked() ([]*Query, error) {
	if err := c.badIn(collectorsDir); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(c.collectors))
	for k := range c.collectors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []*Query // nil when there are none, as the Store's
	for _, k := range keys {
		out = append(out, c.collectors[k])
	}
	return out, nil
}

// Collected returns the cache's node's collector queries and, for each, the
// exports that answer it (as Resources), all as of one moment: a change of the
// collectors and of the types the cache holds is never seen half done.
func (c *Cache) Collected(_ context.Context) ([]*Query, [][]Resource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return collected(c.certname, c.collectorsLocked, c.resourcesLocked)
}

// Collected returns certname's collector queries and, for each, the exports that
// answer it, read from s one after the other (a Cache's Collected reads them as
// of one moment).
func Collected(ctx context.Context, s Store, certname string) ([]*Query, [][]Resource, error) {
	return collected(certname, func() ([]*Query, error) { return s.Collectors(ctx, certname) },
		func(q *Query) ([]Resource, error) { return s.Resources(ctx, q) })
}

// collected reads the collector queries with collectors, then the exports that
// answer each with resources.
func collected(certname string, collectors func() ([]*Query, error), resources func(*Query) ([]Resource, error)) ([]*Query, [][]Resource, error) {
	queries, err := collectors()
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s's collectors: %w", certname, err)
	}
	found := make([][]Resource, len(queries))
	for i, q := range queries {
		if found[i], err = resources(q); err != nil {
			return nil, nil, fmt.Errorf("collecting for %s: %w", certname, err)
		}
	}
	return queries, found, nil
}

// Stats says what the cache did besides following its watches.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// decodeResource reads a stored export, as encoding/json would into a Resource,
// with the catalog's decoder (catalog.DecodeObject: 2.6 times faster and half the
// bytes, BenchmarkDecodeResource): every node decodes every export it is sent. Numbers stay json.Number, as in catalogs
// read by package catalog.
func decodeResource(data []byte) (Resource, error) {
	var r Resource
	err := catalog.DecodeObject(data, func(field string, v any) error {
		switch field {
		case "certname":
			return setString(field, v, &r.Certname)
		case "type":
			return setString(field, v, &r.Type)
		case "title":
			return setString(field, v, &r.Title)
		case "resource":
			return setString(field, v, &r.Resource)
		case "environment":
			return setString(field, v, &r.Environment)
		case "tags":
			switch x := v.(type) {
			case []any:
				r.Tags = make([]string, len(x))
				for i, t := range x {
					s, ok := t.(string)
					if !ok {
						return fmt.Errorf("tags[%d] is %s, not a string", i, jsonKind(t))
					}
					r.Tags[i] = s
				}
			case nil:
			default:
				return fmt.Errorf("tags is %s, not a list", jsonKind(x))
			}
		case "file":
			switch x := v.(type) {
			case string:
				r.File = &x
			case nil:
			default:
				return fmt.Errorf("file is %s, not a string", jsonKind(x))
			}
		case "line":
			switch x := v.(type) {
			case json.Number:
				n, err := strconv.Atoi(string(x))
				if err != nil {
					return fmt.Errorf("line %s is not an integer", x)
				}
				r.Line = &n
			case nil:
			default:
				return fmt.Errorf("line is %s, not a number", jsonKind(x))
			}
		case "exported":
			switch x := v.(type) {
			case bool:
				r.Exported = x
			case nil:
			default:
				return fmt.Errorf("exported is %s, not a boolean", jsonKind(x))
			}
		case "parameters":
			switch x := v.(type) {
			case map[string]any:
				r.Parameters = x
			case nil:
			default:
				return fmt.Errorf("parameters is %s, not an object", jsonKind(x))
			}
		}
		return nil
	})
	return r, err
}

func setString(field string, v any, dst *string) error {
	switch x := v.(type) {
	case string:
		*dst = x
	case nil:
	default:
		return fmt.Errorf("%s is %s, not a string", field, jsonKind(x))
	}
	return nil
}

// jsonKind names a decoded JSON value's kind for an error.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	default:
		return "an object"
	}
}

// decodeCollector reads a stored collector and parses its query.
func decodeCollector(data []byte) (*Query, error) {
	var c Collector
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, err
	}
	return ParseQuery(c.Query)
}

// sortResources sorts by certname, type and title.
func sortResources(out []Resource) {
	sort.Slice(out, func(i, j int) bool { return lessResource(&out[i], &out[j]) })
}

func lessResource(a, b *Resource) bool {
	if a.Certname != b.Certname {
		return a.Certname < b.Certname
	}
	if a.Type != b.Type {
		return a.Type < b.Type
	}
	return a.Title < b.Title
}
