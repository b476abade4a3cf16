package exported

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"
)

// Store is what the PuppetDB API and the running nodes need of etcd.
type Store interface {
	// ReplaceCatalog replaces the node's exports with the catalog's exported
	// resources, in one transaction, and reactivates the node.
	ReplaceCatalog(ctx context.Context, c *Catalog) error
	// ReplaceFacts stores the node's facts.
	ReplaceFacts(ctx context.Context, f *Facts) error
	// Deactivate withdraws the node's exports.
	Deactivate(ctx context.Context, certname string, at time.Time) error
	// Resources returns the exported resources that answer q, sorted by certname,
	// type and title.
	Resources(ctx context.Context, q *Query) ([]Resource, error)
	// Facts returns the node's facts, or nil when none are known.
	Facts(ctx context.Context, certname string) (*Facts, error)
	// RecordCollector remembers that the node collects with query.
	RecordCollector(ctx context.Context, certname string, query json.RawMessage) error
	// StoreReport keeps a report (until its lease ends) and makes it the node's
	// latest when it is newer than the latest.
	StoreReport(ctx context.Context, r *Report) error
	// Snapshot reads what the queries of parts need, as of one revision.
	Snapshot(ctx context.Context, parts Parts) (*Snapshot, error)
	// GC expires the nodes that sent nothing for nodeTTL (withdrawing their
	// exports) and forgets those deactivated or expired for purgeTTL; a TTL of 0
	// does neither.
	GC(ctx context.Context, now time.Time, nodeTTL, purgeTTL time.Duration) (GCStats, error)
	// Collectors returns the queries the node collected with at its last compile.
	Collectors(ctx context.Context, certname string) ([]*Query, error)
	// KeepAlive makes the node's exports count only while the node is alive: it
	// keeps a key on an etcd lease of ttl alive until ctx ends; once the lease has
	// run out (the node died, or stopped), queries leave the node's exports out
	// until it is alive again. It returns when the lease is first granted. A ttl
	// of 0 makes the node's exports count whether it runs or not again.
	KeepAlive(ctx context.Context, certname string, ttl time.Duration) error
	// Inform returns a Cache of what the node's collectors read, kept current
	// from a watch until ctx ends; changed is called (from one goroutine, never
	// twice at once) after every change that reached the cache.
	Inform(ctx context.Context, certname string, changed func()) (*Cache, error)
}

// etcdStore is a Store over an etcd client, with every key under Prefix.
type etcdStore struct {
	kv      clientv3.KV
	watcher clientv3.Watcher
	lease   clientv3.Lease
	reports leases

	reportTTL time.Duration
}

// NewStore returns a Store on cli, with every key under Prefix. Reports are kept
// for reportTTL (0: PuppetDB's default, ReportTTL).
func NewStore(cli *clientv3.Client, reportTTL time.Duration) Store {
	if reportTTL <= 0 {
		reportTTL = ReportTTL
	}
	return &etcdStore{kv: namespace.NewKV(cli.KV, Prefix), watcher: namespace.NewWatcher(cli.Watcher, Prefix),
		lease: namespace.NewLease(cli.Lease, Prefix), reportTTL: reportTTL}
}

func (s *etcdStore) ReplaceCatalog(ctx context.Context, c *Catalog) error {
	if !ValidCertname(c.Certname) {
		return fmt.Errorf("replace_catalog: bad certname %q", c.Certname)
	}
	puts := map[string]string{}
	for _, r := range c.Resources {
		if !r.Exported {
			continue
		}
		if !ValidType(r.Type) {
			return fmt.Errorf("replace_catalog for %s: %s[%s]: bad type name", c.Certname, r.Type, r.Title)
		}
		key := resourceKey(c.Certname, r.Type, r.Title)
		if _, dup := puts[key]; dup {
			return fmt.Errorf("replace_catalog for %s: %s exported twice", c.Certname, r.Type+"["+r.Title+"]")
		}
		tags := r.Tags
		if tags == nil {
			tags = []string{}
		}
		params := r.Parameters
		if params == nil {
			params = map[string]any{}
		}
		data, err := json.Marshal(Resource{Certname: c.Certname, Type: r.Type, Title: r.Title, Tags: tags,
			File: r.File, Line: r.Line, Resource: resourceHash(r.Type, r.Title), Environment: c.Environment,
			Exported: true, Parameters: params})
		if err != nil {
			return fmt.Errorf("replace_catalog for %s: %s[%s]: %w", c.Certname, r.Type, r.Title, err)
		}
		puts[key] = string(data)
	}
	now := time.Now().UTC()
	if len(c.Raw) > 0 {
		doc, err := pack(catalogDoc{ReceiveTime: now, Payload: c.Raw})
		if err != nil {
			return err
		}
		puts[catalogKey(c.Certname)] = doc
	}
	update := func(n *Node) bool {
		// As PuppetDB: a catalog older than the one stored, or than the node's
		// deactivation, is stale and ignored.
		if newer(n.ProducerTimestamp, c.ProducerTimestamp) || (n.Deactivated != nil && before(c.ProducerTimestamp, *n.Deactivated)) {
			return false
		}
		n.Environment, n.CatalogUUID, n.Version = c.Environment, c.CatalogUUID, strings.Trim(string(c.Version), `"`)
		n.ProducerTimestamp, n.Exports, n.Deactivated, n.Expired, n.CatalogTimestamp = c.ProducerTimestamp, len(puts), nil, nil, &now
		if len(c.Raw) > 0 {
			n.Exports--
		}
		return true
	}
	if err := s.replaceNode(ctx, c.Certname, puts, update); err != nil {
		return fmt.Errorf("replace_catalog for %s: %w", c.Certname, err)
	}
	return nil
}

// replaceNode makes the node's exports (and catalog) exactly puts and updates its
// node entry with update, in one transaction. Each export goes under both its keys
// (resourceKey and typeKey), each written only when it differs from what is
// stored: an export the catalog did not change is not written again, since every
// node that watches its type would be sent it, and keys by type that are missing
// or stale (left by a version without them) are put right. etcd refuses a put
// inside a range deleted by the same transaction, so the stale keys are read first
// and deleted one by one.
func (s *etcdStore) replaceNode(ctx context.Context, certname string, puts map[string]string, update func(*Node) bool) error {
	return s.txnNode(ctx, certname, update, func() ([]clientv3.Op, error) {
		cur, err := s.exports(ctx, certname)
		if err != nil {
			return nil, err
		}
		types := map[string]bool{}
		want := map[string]string{} // by typeKey
		for key := range cur {
			_, typ, _ := splitResourceKey(key)
			types[typ] = true
		}
		for key, v := range puts {
			if strings.HasPrefix(key, resourcesDir) {
				_, typ, _ := splitResourceKey(key)
				types[typ] = true
				want[typeKey(key)] = v
			}
		}
		have, err := s.byType(ctx, certname, types)
		if err != nil {
			return nil, err
		}
		var ops []clientv3.Op
		for key := range cur {
			if _, keep := puts[key]; !keep {
				ops = append(ops, clientv3.OpDelete(key))
			}
		}
		for key := range have {
			if _, keep := want[key]; !keep {
				ops = append(ops, clientv3.OpDelete(key))
			}
		}
		if _, keep := puts[catalogKey(certname)]; !keep {
			ops = append(ops, clientv3.OpDelete(catalogKey(certname)))
		}
		for k, v := range puts {
			if !strings.HasPrefix(k, resourcesDir) {
				ops = append(ops, clientv3.OpPut(k, v))
				continue
			}
			if old, ok := cur[k]; !ok || old != v {
				ops = append(ops, clientv3.OpPut(k, v))
			}
			if old, ok := have[typeKey(k)]; !ok || old != v {
				ops = append(ops, clientv3.OpPut(typeKey(k), v))
			}
		}
		return ops, nil
	})
}

// exports returns the node's exports as stored, by key (resourceKey).
func (s *etcdStore) exports(ctx context.Context, certname string) (map[string]string, error) {
	return s.values(ctx, resourcesKey(certname))
}

// byType returns the node's exports by type (typeKey) of the types given.
func (s *etcdStore) byType(ctx context.Context, certname string, types map[string]bool) (map[string]string, error) {
	out := map[string]string{}
	for typ := range types {
		m, err := s.values(ctx, typeNodePrefix(typ, certname))
		if err != nil {
			return nil, err
		}
		maps.Copy(out, m)
	}
	return out, nil
}

// values returns the keys under prefix with their values.
func (s *etcdStore) values(ctx context.Context, prefix string) (map[string]string, error) {
	resp, err := s.kv.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out, nil
}

// dropExports returns the operations that delete the node's exports, both keys of
// each: a range each, the one by node and one by type for each of its types. Run
// them in a transaction that compares the node's entry, which every change of its
// exports rewrites, with the one read before.
func (s *etcdStore) dropExports(ctx context.Context, certname string) ([]clientv3.Op, error) {
	resp, err := s.kv.Get(ctx, resourcesKey(certname), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	ops := []clientv3.Op{clientv3.OpDelete(resourcesKey(certname), clientv3.WithPrefix())}
	types := map[string]bool{}
	for _, kv := range resp.Kvs {
		if _, typ, _ := splitResourceKey(string(kv.Key)); !types[typ] {
			types[typ] = true
			ops = append(ops, clientv3.OpDelete(typeNodePrefix(typ, certname), clientv3.WithPrefix()))
		}
	}
	return ops, nil
}

// node reads the node's entry (a new one when there is none) and its revision.
func (s *etcdStore) node(ctx context.Context, certname string) (*Node, int64, error) {
	resp, err := s.kv.Get(ctx, nodeKey(certname))
	if err != nil {
		return nil, 0, err
	}
	n := &Node{Certname: certname}
	if len(resp.Kvs) == 0 {
		return n, 0, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, n); err != nil {
		return nil, 0, fmt.Errorf("node entry of %s: %w", certname, err)
	}
	return n, resp.Kvs[0].ModRevision, nil
}

// updateNode changes the node's entry with update, and does more in the same
// transaction.
func (s *etcdStore) updateNode(ctx context.Context, certname string, update func(*Node) bool, more ...clientv3.Op) error {
	return s.txnNode(ctx, certname, update, func() ([]clientv3.Op, error) { return more, nil })
}

// txnNode rewrites the node's entry with update, together with the operations
// ops returns, in one transaction that only goes through if the entry, which
// every change of the node rewrites, has not changed since it was read; else it
// reads again and retries. When update returns false (a stale command), nothing
// is written.
func (s *etcdStore) txnNode(ctx context.Context, certname string, update func(*Node) bool, ops func() ([]clientv3.Op, error)) error {
	const attempts = 10
	for i := 0; i < attempts; i++ {
		// The entry first: what ops reads after it is covered by the compare.
		node, rev, err := s.node(ctx, certname)
		if err != nil {
			return err
		}
		more, err := ops()
		if err != nil {
			return err
		}
		if !update(node) {
			return nil
		}
		data, err := json.Marshal(node)
		if err != nil {
			return err
		}
		all := append(append([]clientv3.Op{}, more...), clientv3.OpPut(nodeKey(certname), string(data)))
		resp, err := s.kv.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(nodeKey(certname)), "=", rev)).Then(all...).Commit()
		if err != nil {
			return err
		}
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("node %s changed %d times while being updated", certname, attempts)
}

func (s *etcdStore) ReplaceFacts(ctx context.Context, f *Facts) error {
	if !ValidCertname(f.Certname) {
		return fmt.Errorf("replace_facts: bad certname %q", f.Certname)
	}
	f.ReceiveTime = time.Now().UTC()
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.updateNode(ctx, f.Certname, func(n *Node) bool {
		n.FactsTimestamp, n.FactsEnvironment, n.Deactivated, n.Expired = &f.ReceiveTime, f.Environment, nil, nil
		return true
	}, clientv3.OpPut(factsKey(f.Certname), string(data)))
}

func (s *etcdStore) Deactivate(ctx context.Context, certname string, at time.Time) error {
	if !ValidCertname(certname) {
		return fmt.Errorf("deactivate_node: bad certname %q", certname)
	}
	at = at.UTC()
	return s.txnNode(ctx, certname, func(n *Node) bool {
		// As PuppetDB: a deactivation older than the node's last catalog is stale.
		if before(timestamp(at), mustTime(n.ProducerTimestamp)) {
			return false
		}
		n.Deactivated, n.Exports = &at, 0
		return true
	}, func() ([]clientv3.Op, error) { return s.dropExports(ctx, certname) })
}

func (s *etcdStore) Resources(ctx context.Context, q *Query) ([]Resource, error) {
	resp, err := s.kv.Get(ctx, resourcesDir, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	dead, err := s.dead(ctx)
	if err != nil {
		return nil, err
	}
	out := []Resource{}
	for _, kv := range resp.Kvs {
		r, err := decodeResource(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", kv.Key, err)
		}
		if !dead[r.Certname] && q.Match(&r) {
			out = append(out, r)
		}
	}
	sortResources(out)
	return out, nil
}

// dead returns the nodes whose exports count only while they are alive, and that
// are not.
func (s *etcdStore) dead(ctx context.Context) (map[string]bool, error) {
	live, err := s.kv.Get(ctx, liveDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	leased, alive := map[string]bool{}, map[string]bool{}
	for _, kv := range live.Kvs {
		liveness(string(kv.Key), leased, alive, true)
	}
	dead := map[string]bool{}
	for name := range leased {
		if !alive[name] {
			dead[name] = true
		}
	}
	return dead, nil
}

// liveness records (set) or forgets the liveness key key in leased or alive.
func liveness(key string, leased, alive map[string]bool, set bool) {
	m, name := leased, strings.TrimPrefix(key, leasedDir)
	if strings.HasPrefix(key, aliveDir) {
		m, name = alive, strings.TrimPrefix(key, aliveDir)
	}
	if set {
		m[name] = true
	} else {
		delete(m, name)
	}
}

func (s *etcdStore) KeepAlive(ctx context.Context, certname string, ttl time.Duration) error {
	if !ValidCertname(certname) {
		return fmt.Errorf("bad certname %q", certname)
	}
	if ttl <= 0 {
		_, err := s.kv.Delete(ctx, leasedDir+certname)
		return err
	}
	secs := int64(ttl / time.Second)
	if secs < 1 {
		secs = 1
	}
	grant, err := s.lease.Grant(ctx, secs)
	if err != nil {
		return err
	}
	// Both keys in one revision: never leased but not yet alive.
	if _, err := s.kv.Txn(ctx).Then(clientv3.OpPut(leasedDir+certname, fmt.Sprint(secs)),
		clientv3.OpPut(aliveDir+certname, time.Now().UTC().Format(time.RFC3339), clientv3.WithLease(grant.ID))).Commit(); err != nil {
		return err
	}
	ch, err := s.lease.KeepAlive(ctx, grant.ID)
	if err != nil {
		return err
	}
	go func() {
		for range ch { // drained until ctx ends or the lease is lost
		}
	}()
	return nil
}

func (s *etcdStore) Facts(ctx context.Context, certname string) (*Facts, error) {
	resp, err := s.kv.Get(ctx, factsKey(certname))
	if err != nil || len(resp.Kvs) == 0 {
		return nil, err
	}
	var f Facts
	if err := json.Unmarshal(resp.Kvs[0].Value, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

func (s *etcdStore) RecordCollector(ctx context.Context, certname string, query json.RawMessage) error {
	if !ValidCertname(certname) {
		return nil // a query not from a collector
	}
	sum := sha1.Sum(query)
	data, err := json.Marshal(Collector{Certname: certname, Query: query, Time: time.Now().UTC()})
	if err != nil {
		return err
	}
	_, err = s.kv.Put(ctx, collectorKey(certname, hex.EncodeToString(sum[:])), string(data))
	return err
}

func (s *etcdStore) Collectors(ctx context.Context, certname string) ([]*Query, error) {
	resp, err := s.kv.Get(ctx, collectorsDir+certname+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	var out []*Query
	for _, kv := range resp.Kvs {
		q, err := decodeCollector(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", kv.Key, err)
		}
		out = append(out, q)
	}
	return out, nil
}

// newer says whether the producer timestamp a is later than b (both RFC 3339; an
// unreadable one is never later).
func newer(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	return errA == nil && errB == nil && ta.After(tb)
}

// before says whether the producer timestamp a is earlier than t.
func before(a string, t time.Time) bool {
	ta, err := time.Parse(time.RFC3339Nano, a)
	return err == nil && !t.IsZero() && ta.Before(t)
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func mustTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}
