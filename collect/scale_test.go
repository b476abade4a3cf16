package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/exported"
)

func freeURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
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

// BenchmarkScale50Nodes is the scale run of exported resources: 50 nodes (each a
// goroutine with its own etcd client, as a node process would have) against one
// real embedded etcd. Each stores a catalog exporting two files tagged 'scale' and
// a collector for them, then collects live. Reported: the time from the first
// export until every node's collector has the 98 exports of the others, and the
// bytes etcd's gRPC server received and sent meanwhile.
func BenchmarkScale50Nodes(b *testing.B) {
	const nodes, exportsPerNode = 50, 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := exported.Embedded(ctx, exported.EmbeddedConfig{DataDir: b.TempDir(), ClientURL: freeURL(b), PeerURL: freeURL(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	endpoint := e.Client.Endpoints()
	query := json.RawMessage(`["and",["=","type","File"],["=","exported",true],["=","tag","scale"]]`)
	for i := 0; i < b.N; i++ {
		run := fmt.Sprintf("run%d", i)
		inBefore, outBefore := grpcBytes(b)
		var wg sync.WaitGroup
		var mu sync.Mutex
		done := map[int]time.Time{}
		start := time.Now()
		runCtx, stop := context.WithCancel(ctx)
		for n := 0; n < nodes; n++ {
			wg.Add(1)
			go func(n int) {
				defer wg.Done()
				ex, err := exported.External(endpoint, nil)
				if err != nil {
					b.Error(err)
					return
				}
				defer ex.Close()
				store := ex.Store()
				name := fmt.Sprintf("%s-node%02d.example", run, n)
				c := &exported.Catalog{Certname: name, Environment: "production"}
				for k := 0; k < exportsPerNode; k++ {
					c.Resources = append(c.Resources, exported.CatalogResource{Type: "File",
						Title: fmt.Sprintf("/srv/%s/%s-%d", run, name, k), Tags: []string{"scale", run}, Exported: true,
						Parameters: map[string]any{"ensure": "file", "content": name + "\n"}})
				}
				if err := store.ReplaceCatalog(runCtx, c); err != nil {
					b.Error(err)
					return
				}
				q := json.RawMessage(fmt.Sprintf(`["and",%s,["=","tag",%q],["not",["=","certname",%q]]]`, query, run, name))
				if err := store.RecordCollector(runCtx, name, q); err != nil {
					b.Error(err)
					return
				}
				got := make(chan struct{})
				var once sync.Once
				col := &Collector{Store: store, Catalog: &catalog.Catalog{Name: name, CatalogFormat: 2},
					Apply: func(_ context.Context, cat *catalog.Catalog) error {
						if len(cat.Resources) == (nodes-1)*exportsPerNode {
							once.Do(func() { close(got) })
						}
						return nil
					}}
				go col.Run(runCtx)
				select {
				case <-got:
					mu.Lock()
					done[n] = time.Now()
					mu.Unlock()
				case <-time.After(60 * time.Second):
					b.Errorf("%s: not every export collected within 60 s", name)
				}
			}(n)
		}
		wg.Wait()
		stop()
		var last time.Time
		for _, t := range done {
			if t.After(last) {
				last = t
			}
		}
		inAfter, outAfter := grpcBytes(b)
		b.ReportMetric(last.Sub(start).Seconds()*1000, "ms-converged")
		b.ReportMetric((inAfter-inBefore)/1024, "KiB-etcd-in")
		b.ReportMetric((outAfter-outBefore)/1024, "KiB-etcd-out")
	}
}
