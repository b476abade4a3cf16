package exported

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
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
		switch rng.Intn(6) {
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
		case 5:
			q := fmt.Sprintf(`["=","tag","t%d"]`, rng.Intn(2))
			if err := s.RecordCollector(ctx, me, json.RawMessage(q)); err != nil {
				t.Fatal(err)
			}
		}
	}
	queries := []string{``, `["=","type","File"]`, `["=","tag","t1"]`, `["not",["=","certname","a.example"]]`}
	agrees := func(c *Cache) error {
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
			got, _ := c.Resources(ctx, q)
			if !reflect.DeepEqual(got, want) {
				return fmt.Errorf("query %s: cache %v, store %v", text, refs(got), refs(want))
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
	if len(changes) == 0 {
		t.Error("no change told of")
	}
	if relists, _ := c.Stats(); relists != 0 {
		t.Errorf("read everything again %d times while its watch was current", relists)
	}

	// A cache whose watch starts behind a compaction: it reads everything again.
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
	if relists, _ := behind.Stats(); relists != 1 {
		t.Errorf("behind a compaction: read everything again %d times, want 1", relists)
	}
	for i := 0; i < 50; i++ {
		step()
	}
	eventually(behind)
	eventually(c)

	// A value no node can read: the cache's queries fail naming its key, as the
	// store's do, and the cache goes on following; once it is gone, both agree.
	const badKey = resourcesDir + "zz.example/File[/bad]"
	if _, err := s.kv.Put(ctx, badKey, "{not json"); err != nil {
		t.Fatal(err)
	}
	all, _ := ParseQuery(nil)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := c.Resources(ctx, all)
		if err != nil && strings.Contains(err.Error(), badKey) {
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
	if _, err := s.kv.Delete(ctx, badKey); err != nil {
		t.Fatal(err)
	}
	eventually(c)
	if relists, _ := c.Stats(); relists != 0 {
		t.Errorf("read everything again %d times for an unreadable value", relists)
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
