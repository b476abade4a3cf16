package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/exported"
	"github.com/mgmt-puppet/mgmt-puppet/internal/testport"
)

func freeURL(tb testing.TB) string {
	tb.Helper()
	return testport.URL(tb)
}

// grpcBytes is what the embedded etcd's gRPC server received and sent so far.
func grpcBytes(tb testing.TB) (in, out float64) {
	tb.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "etcd_network_client_grpc_received_bytes_total":
				in += m.GetCounter().GetValue()
			case "etcd_network_client_grpc_sent_bytes_total":
				out += m.GetCounter().GetValue()
			}
		}
	}
	return in, out
}

// BenchmarkScaleNodes is the scale run of exported resources, at 50, 200 and 1000
// nodes (each a goroutine with its own etcd client, as a node process would
// have) against one real embedded etcd. Each stores a catalog exporting two files
// tagged with the run and a collector for them, then collects live. Reported:
//   - ms-converged: from the first export until every node's collector has the
//     exports of all the others, and ms-after-last-export: from the last export
//     stored until then;
//   - KiB-etcd-in and KiB-etcd-out: what etcd's gRPC server received and sent
//     meanwhile;
//   - KiB-etcd-out-other-type: after that, one node adds an export of a type no
//     node collects, its other exports unchanged; what etcd sent in the second
//     after it (the writer's own requests: nodes watch only the types they collect);
//   - KiB-etcd-out-change and ms-change: then that node changes the content of
//     its two file exports; what etcd sent until every other node applied the
//     change, and how long that took;
//   - MB-heap-node: the Go heap in use after convergence, divided by the nodes
//     (the etcd member's share included), and MB-peak-rss: the whole test
//     process's peak so far (every node, and the etcd member).
func BenchmarkScaleNodes(b *testing.B) {
	for _, nodes := range []int{50, 200, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) { benchmarkScale(b, nodes) })
	}
}

func benchmarkScale(b *testing.B, nodes int) {
	const exportsPerNode = 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	endpoint := startEtcd(b).Client.Endpoints()
	query := json.RawMessage(`["and",["=","type","File"],["=","exported",true],["=","tag","scale"]]`)
	exports := func(run, name, content string) *exported.Catalog {
		c := &exported.Catalog{Certname: name, Environment: "production", ProducerTimestamp: time.Now().UTC().Format(time.RFC3339Nano)}
		for k := 0; k < exportsPerNode; k++ {
			c.Resources = append(c.Resources, exported.CatalogResource{Type: "File",
				Title: fmt.Sprintf("/srv/%s/%s-%d", run, name, k), Tags: []string{"scale", run}, Exported: true,
				Parameters: map[string]any{"ensure": "file", "content": content}})
		}
		return c
	}
	for i := 0; i < b.N; i++ {
		run := fmt.Sprintf("run%d", i)
		changedTitle := fmt.Sprintf("/srv/%s/%s-node%04d.example-0", run, run, 0)
		inBefore, outBefore := grpcBytes(b)
		var wg sync.WaitGroup
		var mu sync.Mutex
		done := map[int]time.Time{}
		var lastExport time.Time
		changed := make(chan struct{}, nodes)
		start := time.Now()
		runCtx, stop := context.WithCancel(ctx)
		stores := make([]exported.Store, nodes)
		ready := make(chan struct{}, nodes)
		for n := 0; n < nodes; n++ {
			wg.Add(1)
			go func(n int) {
				defer wg.Done()
				ex, err := exported.External(endpoint, nil)
				if err != nil {
					b.Error(err)
					ready <- struct{}{}
					return
				}
				defer ex.Close()
				store := ex.Store()
				stores[n] = store
				name := fmt.Sprintf("%s-node%04d.example", run, n)
				if err := store.ReplaceCatalog(runCtx, exports(run, name, name+"\n")); err != nil {
					b.Error(err)
					ready <- struct{}{}
					return
				}
				mu.Lock()
				if now := time.Now(); now.After(lastExport) {
					lastExport = now
				}
				mu.Unlock()
				q := json.RawMessage(fmt.Sprintf(`["and",%s,["=","tag",%q],["not",["=","certname",%q]]]`, query, run, name))
				if err := store.RecordCollector(runCtx, name, q); err != nil {
					b.Error(err)
					ready <- struct{}{}
					return
				}
				got := make(chan struct{})
				var once, sawChange sync.Once
				col := &Collector{Store: store, Catalog: &catalog.Catalog{Name: name, CatalogFormat: 2},
					Apply: func(_ context.Context, cat *catalog.Catalog) error {
						if len(cat.Resources) == (nodes-1)*exportsPerNode {
							once.Do(func() { close(got) })
						}
						for _, r := range cat.Resources {
							if r.Title == changedTitle && r.Parameters["content"] == "changed\n" {
								sawChange.Do(func() { changed <- struct{}{} })
							}
						}
						return nil
					}}
				go col.Run(runCtx)
				select {
				case <-got:
					mu.Lock()
					done[n] = time.Now()
					mu.Unlock()
				case <-time.After(120 * time.Second):
					b.Errorf("%s: not every export collected within 120 s", name)
				}
				ready <- struct{}{}
				<-runCtx.Done()
			}(n)
		}
		for n := 0; n < nodes; n++ {
			<-ready
		}
		var last time.Time
		for _, t := range done {
			if t.After(last) {
				last = t
			}
		}
		inAfter, outAfter := grpcBytes(b)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)

		// An export of a type no node collects, its files unchanged: what etcd
		// sends in the second after it (each node watches only the types it
		// collects, and unchanged exports are not written again).
		first := fmt.Sprintf("%s-node%04d.example", run, 0)
		withHost := func(content string) *exported.Catalog {
			c := exports(run, first, content)
			c.Resources = append(c.Resources, exported.CatalogResource{Type: "Host", Title: first, Tags: []string{"scale", run},
				Exported: true, Parameters: map[string]any{"ip": "192.0.2.1"}})
			return c
		}
		_, outOther := grpcBytes(b)
		if err := stores[0].ReplaceCatalog(runCtx, withHost(first+"\n")); err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Second)
		_, outOtherAfter := grpcBytes(b)

		// One export changed: what it costs to tell every node.
		_, outChange := grpcBytes(b)
		changeStart := time.Now()
		if err := stores[0].ReplaceCatalog(runCtx, withHost("changed\n")); err != nil {
			b.Fatal(err)
		}
		for n := 1; n < nodes; n++ {
			select {
			case <-changed:
			case <-time.After(60 * time.Second):
				b.Fatalf("%d of %d nodes saw the changed export within 60 s", n-1, nodes-1)
			}
		}
		changeTook := time.Since(changeStart)
		_, outChangeAfter := grpcBytes(b)
		stop()
		wg.Wait()
		b.ReportMetric(last.Sub(start).Seconds()*1000, "ms-converged")
		b.ReportMetric(last.Sub(lastExport).Seconds()*1000, "ms-after-last-export")
		b.ReportMetric((inAfter-inBefore)/1024, "KiB-etcd-in")
		b.ReportMetric((outAfter-outBefore)/1024, "KiB-etcd-out")
		b.ReportMetric((outChangeAfter-outChange)/1024, "KiB-etcd-out-change")
		b.ReportMetric((outOtherAfter-outOther)/1024, "KiB-etcd-out-other-type")
		b.ReportMetric(changeTook.Seconds()*1000, "ms-change")
		b.ReportMetric(float64(ms.HeapInuse)/float64(nodes)/(1<<20), "MB-heap-node")
		b.ReportMetric(peakRSS(b), "MB-peak-rss")
	}
}

// peakRSS is the process's peak resident memory so far, in MB (VmHWM).
func peakRSS(tb testing.TB) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb / 1024
		}
	}
	tb.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// BenchmarkBuild is one node's work for one change at the 1000-node scale: the
// catalog rebuilt from a cache of 2000 exports, 1998 of them collected.
func BenchmarkBuild(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := startEtcd(b).Store()
	for n := 0; n < 1000; n++ {
		name := fmt.Sprintf("node%04d.example", n)
		c := &exported.Catalog{Certname: name, Environment: "production"}
		for k := 0; k < 2; k++ {
			c.Resources = append(c.Resources, exported.CatalogResource{Type: "File",
				Title: fmt.Sprintf("/srv/%s-%d", name, k), Tags: []string{"scale"}, Exported: true,
				Parameters: map[string]any{"ensure": "file", "content": name + "\n", "mode": "0644"}})
		}
		if err := store.ReplaceCatalog(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	me := "node0000.example"
	q := fmt.Sprintf(`["and",["=","type","File"],["=","exported",true],["=","tag","scale"],["not",["=","certname",%q]]]`, me)
	if err := store.RecordCollector(ctx, me, json.RawMessage(q)); err != nil {
		b.Fatal(err)
	}
	col := &Collector{Store: store, Catalog: &catalog.Catalog{Name: me, CatalogFormat: 2}}
	if err := col.Follow(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cat, _, err := col.Build(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(cat.Resources) != 1998 {
			b.Fatalf("%d resources, want 1998", len(cat.Resources))
		}
	}
}
