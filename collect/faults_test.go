package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/exported"
)

// TestFaultsDuringWave: nodes join a real 3-member etcd cluster (embedded, on
// loopback) one after another, each exporting two files and collecting every
// export of the others. In the middle of the wave one member is stopped, the
// history is compacted, and a tenth of the nodes that already run are restarted
// (a new client and a new collector). At the end every node, restarted or not,
// runs exactly the exports of all the others. (etcd's client moves a watch off a
// stopped member by itself, and the compaction finds the watches current; the
// cache's read after a lost revision is TestCacheFollowsStore's.)
func TestFaultsDuringWave(t *testing.T) {
	const nodes, exportsPerNode = 40, 2
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	names := []string{"m1", "m2", "m3"}
	cfgs := make([]exported.EmbeddedConfig, len(names))
	var seeds, endpoints []string
	for i, name := range names {
		cfgs[i] = exported.EmbeddedConfig{Name: name, DataDir: t.TempDir(), ClientURL: freeURL(t), PeerURL: freeURL(t)}
		seeds = append(seeds, name+"="+cfgs[i].PeerURL)
		endpoints = append(endpoints, cfgs[i].ClientURL)
	}
	members := make([]*exported.Etcd, len(names))
	var wg sync.WaitGroup
	for i := range cfgs {
		cfgs[i].Seeds = strings.Join(seeds, ",")
		wg.Add(1)
		go func(i int) { // the members wait for each other: start them together
			defer wg.Done()
			e, err := exported.Embedded(ctx, cfgs[i])
			if err != nil {
				t.Error(err)
				return
			}
			members[i] = e
		}(i)
	}
	wg.Wait()
	defer func() {
		for _, m := range members {
			if m != nil {
				m.Close()
			}
		}
	}()
	if t.Failed() {
		t.FailNow()
	}

	name := func(n int) string { return fmt.Sprintf("node%02d.example", n) }
	title := func(n, k int) string { return fmt.Sprintf("/srv/%s-%d", name(n), k) }
	query := `["and",["=","type","File"],["=","exported",true],["=","tag","wave"],["not",["=","certname",%q]]]`

	// What each node runs now: the titles of its last applied catalog.
	var mu sync.Mutex
	running := map[int][]string{}
	start := func(n int) (stop func()) {
		nctx, cancel := context.WithCancel(ctx)
		ex, err := exported.External(endpoints, nil)
		if err != nil {
			t.Fatal(err)
		}
		store := ex.Store()
		col := &Collector{Store: store, Catalog: &catalog.Catalog{Name: name(n), CatalogFormat: 2},
			Apply: func(_ context.Context, cat *catalog.Catalog) error {
				var titles []string
				for _, r := range cat.Resources {
					titles = append(titles, r.Title)
				}
				sort.Strings(titles)
				mu.Lock()
				running[n] = titles
				mu.Unlock()
				return nil
			}}
		go col.Run(nctx)
		return func() { cancel(); ex.Close() }
	}
	export := func(n int) {
		ex, err := exported.External(endpoints, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ex.Close()
		store := ex.Store()
		c := &exported.Catalog{Certname: name(n), Environment: "production"}
		for k := 0; k < exportsPerNode; k++ {
			c.Resources = append(c.Resources, exported.CatalogResource{Type: "File", Title: title(n, k),
				Tags: []string{"wave"}, Exported: true, Parameters: map[string]any{"ensure": "file"}})
		}
		if err := store.ReplaceCatalog(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := store.RecordCollector(ctx, name(n), json.RawMessage(fmt.Sprintf(query, name(n)))); err != nil {
			t.Fatal(err)
		}
	}

	stops := make([]func(), nodes)
	defer func() {
		for _, stop := range stops {
			if stop != nil {
				stop()
			}
		}
	}()
	for n := 0; n < nodes; n++ {
		export(n)
		stops[n] = start(n)
		if n != nodes/2 {
			continue
		}
		// The faults, in the middle of the wave.
		if err := members[2].Close(); err != nil {
			t.Logf("stopping m3: %v", err)
		}
		members[2] = nil
		rev, err := members[0].Client.Get(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := members[0].Client.Compact(ctx, rev.Header.Revision); err != nil {
			t.Fatal(err)
		}
		for r := 0; r < nodes/10; r++ {
			k := r * 3 % (n + 1)
			stops[k]()
			stops[k] = start(k)
		}
	}

	want := func(n int) []string {
		var out []string
		for o := 0; o < nodes; o++ {
			for k := 0; k < exportsPerNode && o != n; k++ {
				out = append(out, title(o, k))
			}
		}
		sort.Strings(out)
		return out
	}
	waveEnd := time.Now()
	deadline := waveEnd.Add(60 * time.Second)
	for n := 0; n < nodes; n++ {
		for {
			mu.Lock()
			got := strings.Join(running[n], " ")
			mu.Unlock()
			if got == strings.Join(want(n), " ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s runs %d exports 60 s after the wave, want the %d of the others",
					name(n), len(strings.Fields(got)), len(want(n)))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	took := time.Since(waveEnd)
	t.Logf("%d nodes, m3 stopped, history compacted and %d nodes restarted mid-wave: all converged %v after the last export",
		nodes, nodes/10, took.Round(time.Millisecond))
	// By the watches: a cache that only caught up by watching or reading again
	// after a pause would take longer.
	if took > 800*time.Millisecond {
		t.Errorf("converged %v after the last export, want it by the watches (21-33 ms measured)", took)
	}
}
