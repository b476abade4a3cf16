package exported

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
)

// Cache is a running node's copy of what its collectors read: every exported
// resource, which nodes' exports count only while they are alive and which of
// them are, and the node's own collector queries. It reads them once, at one
// revision, and then follows a watch of each of the three key ranges from the
// next revision (list, then watch: the informer pattern of Kubernetes'
// client-go), so a change elsewhere costs the node one watch event instead of a
// new read of every export. A watch that ends (its member gone, the leader lost)
// is watched again from the last revision it delivered, after a pause with
// jitter, so that a leader election does not make every node read everything at
// once; only a watch whose revision was compacted away reads everything again.
// Nothing is missed, and an event applied again is harmless, since each one sets
// or removes one key.
//
// Its Resources and Collectors answer as the Store's do, from memory; what they
// return shares its tags and parameters with the cache, to be read only.
type Cache struct {
	s        *etcdStore
	certname string
	changed  func()

	mu         sync.Mutex
	rev        [numRanges]int64     // per key range, the revision its watch delivered up to
	resources  map[string]*Resource // by key
	sorted     []*Resource          // resources in Store.Resources' order; nil after a change
	leased     map[string]bool      // by certname
	alive      map[string]bool      // by certname
	collectors map[string]*Query    // by key
	bad        map[string]error     // keys whose values cannot be read: queries fail, naming them
	relists    int                  // reads of everything after the first
	rewatches  int                  // watches started again without a read
}

// The key ranges a Cache follows, one watch each.
const (
	rangeResources = iota
	rangeLive
	rangeCollectors
	numRanges
)

func (c *Cache) prefix(r int) string {
	switch r {
	case rangeResources:
		return resourcesDir
	case rangeLive:
		return liveDir
	}
	return collectorsDir + c.certname + "/"
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

// list replaces the contents with a read of the three key ranges, in one
// transaction so that they are of one revision. A value that cannot be read is
// kept as an error for its key, as Store's queries report it.
func (c *Cache) list(ctx context.Context) error {
	ops := make([]clientv3.Op, numRanges)
	for r := range ops {
		opts := []clientv3.OpOption{clientv3.WithPrefix()}
		if r == rangeLive {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		ops[r] = clientv3.OpGet(c.prefix(r), opts...)
	}
	resp, err := c.s.kv.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return err
	}
	resources, collectors, bad := map[string]*Resource{}, map[string]*Query{}, map[string]error{}
	leased, alive := map[string]bool{}, map[string]bool{}
	for _, kv := range resp.Responses[rangeResources].GetResponseRange().Kvs {
		setOrDelete(resources, bad, string(kv.Key), true, kv.Value, decodeResourcePtr)
	}
	for _, kv := range resp.Responses[rangeLive].GetResponseRange().Kvs {
		liveness(string(kv.Key), leased, alive, true)
	}
	for _, kv := range resp.Responses[rangeCollectors].GetResponseRange().Kvs {
		setOrDelete(collectors, bad, string(kv.Key), true, kv.Value, decodeCollector)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rev[0] != 0 {
		c.relists++
	}
	for r := range c.rev {
		c.rev[r] = resp.Header.Revision
	}
	c.resources, c.leased, c.alive, c.collectors, c.bad = resources, leased, alive, collectors, bad
	c.sorted = nil
	return nil
}

// run follows the watches until ctx ends: after a watch ends it watches again
// from where each range was, and after a compaction it reads everything again.
func (c *Cache) run(ctx context.Context) {
	retry := cacheRetryMin
	for {
		started := time.Now()
		compacted := c.follow(ctx)
		if time.Since(started) > cacheRetryMax {
			retry = cacheRetryMin // it ran a good while: not a failing cluster
		}
		for {
			if !sleepJittered(ctx, retry) {
				return
			}
			retry = min(2*retry, cacheRetryMax)
			if !compacted {
				c.mu.Lock()
				c.rewatches++
				c.mu.Unlock()
				break
			}
			if err := c.list(ctx); err == nil {
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

// follow applies the events of a watch of each range, from the revision after
// the one it was current to, until a watch ends (false) or can no longer give
// every event since then (true: read everything again).
func (c *Cache) follow(ctx context.Context) (compacted bool) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	var chans [numRanges]clientv3.WatchChan
	c.mu.Lock()
	for r := range chans {
		// Progress notifications carry an idle range's revision forward, so that
		// watching it again does not start before a compaction.
		chans[r] = c.s.watcher.Watch(wctx, c.prefix(r), clientv3.WithPrefix(), clientv3.WithRev(c.rev[r]+1),
			clientv3.WithProgressNotify())
	}
	c.mu.Unlock()
	for {
		var resp clientv3.WatchResponse
		var ok bool
		var r int
		select {
		case <-ctx.Done():
			return false
		case resp, ok = <-chans[rangeResources]:
			r = rangeResources
		case resp, ok = <-chans[rangeLive]:
			r = rangeLive
		case resp, ok = <-chans[rangeCollectors]:
			r = rangeCollectors
		}
		switch {
		case ok && resp.CompactRevision != 0:
			return true
		case !ok || resp.Canceled || resp.Err() != nil:
			return false
		case resp.IsProgressNotify():
			c.mu.Lock()
			c.rev[r] = max(c.rev[r], resp.Header.Revision)
			c.mu.Unlock()
		case len(resp.Events) > 0:
			c.apply(r, resp.Events)
			c.changed()
		}
	}
}

// apply takes the events of one watch response of range r into the cache.
func (c *Cache) apply(r int, events []*clientv3.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range events {
		key := string(ev.Kv.Key)
		put := ev.Type == clientv3.EventTypePut
		switch r {
		case rangeResources:
			c.sorted = nil
			setOrDelete(c.resources, c.bad, key, put, ev.Kv.Value, decodeResourcePtr)
		case rangeLive:
			liveness(key, c.leased, c.alive, put)
		case rangeCollectors:
			setOrDelete(c.collectors, c.bad, key, put, ev.Kv.Value, decodeCollector)
		}
		c.rev[r] = max(c.rev[r], ev.Kv.ModRevision)
	}
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

// badIn returns the error of the first key under prefix whose value cannot be
// read, nil when there is none.
func (c *Cache) badIn(prefix string) error {
	var first string
	for k := range c.bad {
		if strings.HasPrefix(k, prefix) && (first == "" || k < first) {
			first = k
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
// type and title, as Store.Resources does.
func (c *Cache) Resources(_ context.Context, q *Query) ([]Resource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.badIn(resourcesDir); err != nil {
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
	out := []Resource{}
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

// Collectors returns the cache's node's collector queries, in key order as the
// Store's; certname must be that node.
func (c *Cache) Collectors(_ context.Context, certname string) ([]*Query, error) {
	if certname != c.certname {
		return nil, fmt.Errorf("the cache holds the collectors of %s, not of %s", c.certname, certname)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.badIn(collectorsDir); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(c.collectors))
	for k := range c.collectors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*Query, 0, len(keys))
	for _, k := range keys {
		out = append(out, c.collectors[k])
	}
	return out, nil
}

// Stats says how often the cache read everything again after its first read, and
// how often it started its watches again without a read.
func (c *Cache) Stats() (relists, rewatches int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.relists, c.rewatches
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
