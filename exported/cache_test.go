package exported

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The cache against the store it follows, on a real embedded etcd: after a run of
// random changes (catalogs replaced, nodes deactivated, leases marked, collectors
// recorded), and again after changes made while its watch was behind a compaction,
// it answers every query as a fresh read of etcd does, and it read everything
// again exactly when it had to.
func TestCacheFollowsStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e := startEtcd(t)
	s := e.Store().(*etcdStore)
	const me = "collector.example"
	rng := rand.New(rand.NewSource(1))
	nodes := []string{"a.example", "b.example", "c.example", "d.example"}
	version := 0
	step := func() {
		version++
		n := nodes[rng.Intn(len(nodes))]
		switch rng.Intn(7) {
		case 0, 1, 2: // a new catalog with 0 to 3 exports, some of them the old ones
			c := &Catalog{Certname: n, Environment: "production",
				ProducerTimestamp: time.Now().UTC().Add(time.Duration(version) * time.Millisecond).Format(time.RFC3339Nano)}
			for k := rng.Intn(4); k > 0; k-- {
				typ := []string{"File", "Host", "Sshkey"}[rng.Intn(3)]
				c.Resources = append(c.Resources, CatalogResource{Type: typ, Title: fmt.Sprintf("/x/%d", rng.Intn(5)),
					Tags: []string{"t" + fmt.Sprint(rng.Intn(2))}, Exported: true,
					Parameters: map[string]any{"v": json.Number(fmt.Sprint(version))}})
			}
			if err := s.ReplaceCatalog(ctx, dedupe(c)); err != nil {
				t.Fatal(err)
			}
		case 3:
			if err := s.Deactivate(ctx, n, time.Now().Add(time.Duration(version)*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		case 4: // exports that count only while alive, with or without the alive key
			if _, err := s.kv.Put(ctx, leasedDir+n, "1"); err != nil {
				t.Fatal(err)
			}
			if rng.Intn(2) == 0 {
				if _, err := s.kv.Put(ctx, aliveDir+n, "now"); err != nil {
					t.Fatal(err)
				}
			} else if _, err := s.kv.Delete(ctx, aliveDir+n); err != nil {
				t.Fatal(err)
			}
		case 5: // collectors of one type mostly, now and then of any type
			q := []string{`["and",["=","type","File"],["=","tag","t1"]]`, `["and",["=","type","Host"],["=","exported",true]]`,
				`["=","type","Sshkey"]`, `["=","tag","t0"]`}[rng.Intn(4)]
			if q == `["=","tag","t0"]` && rng.Intn(3) != 0 {
				q = `["=","type","File"]`
			}
			if err := s.RecordCollector(ctx, me, json.RawMessage(q)); err != nil {
				t.Fatal(err)
			}
		case 6: // the collectors forgotten, as a purge does
			if _, err := s.kv.Delete(ctx, collectorsDir+me+"/", clientv3.WithPrefix()); err != nil {
				t.Fatal(err)
			}
		}
	}
	queries := []string{``, `["=","type","File"]`, `["=","tag","t1"]`, `["not",["=","certname","a.example"]]`,
		`["and",["=","type","Host"],["=","tag","t0"]]`, `["=","type","Sshkey"]`}
	agrees := func(c *Cache) error {
		c.mu.Lock()
		types, all := c.types, c.all
		if wt, wall := interest(c.collectors); wall != all || !slices.Equal(wt, types) {
			c.mu.Unlock()
			return fmt.Errorf("holds the types %v (all: %v) for collectors of %v (all: %v)", types, all, wt, wall)
		}
		for k := range c.resources {
			typ, _, _ := strings.Cut(strings.TrimPrefix(k, typesDir), "/")
			if all && !strings.HasPrefix(k, resourcesDir) || !all && (!strings.HasPrefix(k, typesDir) || !slices.Contains(types, typ)) {
				c.mu.Unlock()
				return fmt.Errorf("holds %s with collectors of types %v (all: %v)", k, types, all)
			}
		}
		c.mu.Unlock()
		for _, text := range queries {
			var raw json.RawMessage
			if text != "" {
				raw = json.RawMessage(text)
			}
			q, err := ParseQuery(raw)
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Resources(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Resources(ctx, q)
			if qt, qall := q.Types(); !all && (qall || !subset(qt, types)) {
				if err == nil {
					return fmt.Errorf("query %s answered by a cache of types %v", text, types)
				}
				continue
			}
			if !reflect.DeepEqual(got, want) {
				return fmt.Errorf("query %s: cache %v (%v), store %v", text, refs(got), err, refs(want))
			}
		}
		want, err := s.Collectors(ctx, me)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Collectors(ctx, me)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("cache has collectors %v, store %v", got, want)
		}
		return nil
	}
	eventually := func(c *Cache) {
		t.Helper()
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if err = agrees(c); err == nil {
				return
			}
		}
		t.Fatal(err)
	}

	for i := 0; i < 20; i++ {
		step()
	}
	changes := make(chan struct{}, 1)
	c, err := s.Inform(ctx, me, func() {
		select {
		case changes <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := agrees(c); err != nil {
		t.Fatalf("after the first read: %v", err)
	}
	for i := 0; i < 200; i++ {
		step()
	}
	eventually(c)
	if err := byTypeAgrees(ctx, s); err != nil {
		t.Fatal(err)
	}
	if len(changes) == 0 {
		t.Error("no change told of")
	}
	if st := c.Stats(); st.Relists != 0 || st.Refocuses == 0 {
		t.Errorf("while its watch was current: read everything again %d times, %d of them for new collectors; want 0 and some",
			st.Relists, st.Refocuses)
	}

	// A cache whose watch starts behind a compaction: it reads everything again.
	if err := s.RecordCollector(ctx, me, json.RawMessage(`["=","type","Host"]`)); err != nil {
		t.Fatal(err)
	}
	behind := &Cache{s: s, certname: me, changed: func() {}}
	if err := behind.list(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		step()
	}
	rev, _ := s.kv.Get(ctx, "x")
	if _, err := e.Client.Compact(ctx, rev.Header.Revision); err != nil {
		t.Fatal(err)
	}
	go behind.run(ctx)
	eventually(behind)
	for deadline := time.Now().Add(10 * time.Second); behind.Stats().Relists == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if st := behind.Stats(); st.Relists != 1 {
		t.Errorf("behind a compaction: read everything again %d times, want 1", st.Relists)
	}
	for i := 0; i < 50; i++ {
		step()
	}
	eventually(behind)
	eventually(c)

	// A value no node can read: the cache's queries fail naming its key, as the
	// store's do, and the cache goes on following; once it is gone, both agree.
	// A watch that was behind (a new one, not yet caught up) at the compaction
	// reads everything again too: count from here.
	before := c.Stats().Relists
	// Collected files, so that the cache holds them whatever the collectors were.
	if err := s.RecordCollector(ctx, me, json.RawMessage(`["=","type","File"]`)); err != nil {
		t.Fatal(err)
	}
	const badKey = resourcesDir + "zz.example/File[/bad]"
	for _, k := range []string{badKey, typeKey(badKey)} {
		if _, err := s.kv.Put(ctx, k, "{not json"); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := ParseQuery(nil)
	files, _ := ParseQuery(json.RawMessage(`["=","type","File"]`))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := c.Resources(ctx, files)
		if err != nil && (strings.Contains(err.Error(), badKey) || strings.Contains(err.Error(), typeKey(badKey))) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with an unreadable export stored, the cache answers error %v", err)
		}
	}
	if _, err := s.Resources(ctx, all); err == nil {
		t.Fatal("the store reads the unreadable export")
	}
	step()
	for _, k := range []string{badKey, typeKey(badKey)} {
		if _, err := s.kv.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	eventually(c)
	if st := c.Stats(); st.Relists != before {
		t.Errorf("read everything again %d times for an unreadable value", st.Relists-before)
	}
}

// dedupe keeps the first of resources with one type and title, as a catalog has.
func dedupe(c *Catalog) *Catalog {
	seen := map[string]bool{}
	var out []CatalogResource
	for _, r := range c.Resources {
		if k := r.Type + "[" + r.Title + "]"; !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	c.Resources = out
	return c
}

// A node that starts keeping its lease alive is never seen leased but not alive:
// both keys come in one revision, so a watcher of the liveness keys (a Cache)
// sees them in one response.
func TestKeepAliveOneRevision(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := startEtcd(t).Store().(*etcdStore)
	w := s.watcher.Watch(ctx, liveDir, clientv3.WithPrefix())
	if err := s.KeepAlive(ctx, "starting.example", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case resp := <-w:
		if len(resp.Events) != 2 || resp.Events[0].Kv.ModRevision != resp.Events[1].Kv.ModRevision {
			t.Fatalf("liveness keys in %d events of one response, want both in one revision", len(resp.Events))
		}
	case <-ctx.Done():
		t.Fatal("no liveness event")
	}
}

// A node is sent only the exports of the types its collectors name: with a
// collector of hosts, files exported and changed elsewhere never reach its cache
// (no change is told of), and recompiles that change nothing send nothing; once it
// collects files too, it reads them, and holds both.
func TestCacheNarrowsToCollectedTypes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := startEtcd(t).Store().(*etcdStore)
	const me = "monitor.example"
	export := func(version int, resources ...CatalogResource) {
		t.Helper()
		c := &Catalog{Certname: "web.example", Environment: "production", Resources: resources,
			ProducerTimestamp: time.Now().UTC().Add(time.Duration(version) * time.Millisecond).Format(time.RFC3339Nano)}
		if err := s.ReplaceCatalog(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	host := CatalogResource{Type: "Host", Title: "web.example", Exported: true, Parameters: map[string]any{"ip": "192.0.2.1"}}
	file := func(v int) CatalogResource {
		return CatalogResource{Type: "File", Title: "/etc/web", Exported: true, Parameters: map[string]any{"content": fmt.Sprint(v)}}
	}
	export(0, host, file(0))
	if err := s.RecordCollector(ctx, me, json.RawMessage(`["and",["=","type","Host"],["=","exported",true],["not",["=","certname","monitor.example"]]]`)); err != nil {
		t.Fatal(err)
	}
	changes := make(chan struct{}, 100)
	c, err := s.Inform(ctx, me, func() { changes <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	hosts, _ := ParseQuery(json.RawMessage(`["=","type","Host"]`))
	files, _ := ParseQuery(json.RawMessage(`["=","type","File"]`))
	if got, err := c.Resources(ctx, hosts); err != nil || len(got) != 1 {
		t.Fatalf("hosts: %v, %v", refs(got), err)
	}
	if _, err := c.Resources(ctx, files); err == nil {
		t.Fatal("a cache of hosts answers a query of files")
	}
	for v := 1; v <= 20; v++ {
		export(v, host, file(v)) // the file changes, the host does not
	}
	// A change it must be sent, after the others: once it is in, the others had
	// their chance to arrive.
	host.Parameters = map[string]any{"ip": "192.0.2.2"}
	export(21, host, file(21))
	select {
	case <-changes:
	case <-ctx.Done():
		t.Fatal("the changed host was not told of")
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(changes); n != 0 {
		t.Errorf("%d more changes told of: exports of a type it does not collect, or unchanged ones, reached it", n)
	}
	c.mu.Lock()
	n := len(c.resources)
	c.mu.Unlock()
	if n != 1 {
		t.Errorf("the cache holds %d exports, want the host alone", n)
	}

	// While collectors of other types come, what a build reads (Collected) is
	// never half refocused: no query of a type the cache does not hold.
	stopBuilds := make(chan struct{})
	builds := make(chan [2]int)
	go func() {
		n, failed := 0, 0
		for {
			select {
			case <-stopBuilds:
				builds <- [2]int{n, failed}
				return
			default:
			}
			if _, _, err := c.Collected(ctx); err != nil {
				failed++
			}
			n++
		}
	}()
	for _, typ := range []string{"Sshkey", "Nagios_host", "Concat_fragment", "File"} {
		if err := s.RecordCollector(ctx, me, json.RawMessage(`["and",["=","type","`+typ+`"],["=","exported",true],["not",["=","certname","monitor.example"]]]`)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := c.Resources(ctx, files)
		if err == nil && len(got) == 1 && got[0].Parameters["content"] == "21" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after collecting files too: %v, %v", refs(got), err)
		}
	}
	close(stopBuilds)
	if b := <-builds; b[1] != 0 || b[0] == 0 {
		t.Errorf("%d of %d builds failed while collectors came", b[1], b[0])
	}
	if got, err := c.Resources(ctx, hosts); err != nil || len(got) != 1 {
		t.Fatalf("hosts after collecting files too: %v, %v", refs(got), err)
	}
	if st := c.Stats(); st.Refocuses == 0 || st.Refocuses > 4 || st.Relists != 0 {
		t.Errorf("stats %+v, want a read again for each new collector's type, at most", st)
	}
}

// byTypeAgrees says how the exports by type differ from the exports, if they do:
// each export must be under its key by type too, with the same value, and
// nothing else.
func byTypeAgrees(ctx context.Context, s *etcdStore) error {
	want := map[string]string{}
	resp, err := s.kv.Get(ctx, resourcesDir, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		want[typeKey(string(kv.Key))] = string(kv.Value)
	}
	got := map[string]string{}
	resp, err = s.kv.Get(ctx, typesDir, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		got[string(kv.Key)] = string(kv.Value)
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("exports by type %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	return nil
}

// An export stored by a version without the keys by type gets its key by type
// when its node's next catalog is stored, even if the export did not change; a
// key by type that such a version left stale, or behind a withdrawn export, is
// put right then too.
func TestByTypeAfterUpgrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := startEtcd(t).Store().(*etcdStore)
	c := &Catalog{Certname: "old.example", Environment: "production", ProducerTimestamp: time.Now().UTC().Format(time.RFC3339Nano),
		Resources: []CatalogResource{{Type: "Sshkey", Title: "old.example", Exported: true, Parameters: map[string]any{"key": "AAAA"}}}}
	if err := s.ReplaceCatalog(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.kv.Delete(ctx, typesDir, clientv3.WithPrefix()); err != nil { // as an earlier version left it
		t.Fatal(err)
	}
	version := 0
	replace := func() {
		t.Helper()
		version++
		c.ProducerTimestamp = time.Now().UTC().Add(time.Duration(version) * time.Second).Format(time.RFC3339Nano)
		if err := s.ReplaceCatalog(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := byTypeAgrees(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	replace()
	resp, err := s.kv.Get(ctx, typesDir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 1 {
		t.Fatalf("%v exports by type (%v), want 1", resp.Count, err)
	}

	// A writer of that earlier version changes an export, or withdraws one, by
	// node only: the next catalog stored puts the keys by type right.
	// (A type whose every export such a writer withdrew is not seen again: the
	// keys by type need every writer on this version, docs/exported.md.)
	for _, h := range []string{"old.example", "older.example"} {
		c.Resources = append(c.Resources, CatalogResource{Type: "Host", Title: h, Exported: true, Parameters: map[string]any{"ip": "192.0.2.9"}})
	}
	replace()
	key := resourceKey("old.example", "Sshkey", "old.example")
	if _, err := s.kv.Put(ctx, key, `{"certname":"old.example","type":"Sshkey","title":"old.example","tags":[],"exported":true,"parameters":{"key":"BBBB"}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.kv.Delete(ctx, resourceKey("old.example", "Host", "old.example")); err != nil {
		t.Fatal(err)
	}
	c.Resources = []CatalogResource{c.Resources[0], c.Resources[2]} // the key, and older.example's host
	replace()
	if err := s.Deactivate(ctx, "old.example", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := byTypeAgrees(ctx, s); err != nil {
		t.Fatalf("after deactivation: %v", err)
	}
}
