package collect

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkWatchFloor is the floor under BenchmarkScaleNodes' wave: N etcd
// clients in this process (as the scale benchmark has), each watching one
// prefix, and 2N values of an export's size (about 400 bytes an event, what
// the scale benchmark's wave sends) put there by one writer. Nothing is
// decoded, matched or applied: the clients only count the events. Reported:
// ms-all-received, from the first put until every client has had all 2N
// events, and ms-after-last-put, from the last put's answer until then. What
// a node does with an export can only add to this. Each node's two values are
// put in one transaction, as a node's exports are.
func BenchmarkWatchFloor(b *testing.B) {
	for _, nodes := range []int{50, 200, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) { benchmarkWatchFloor(b, nodes) })
	}
}

func benchmarkWatchFloor(b *testing.B, nodes int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	endpoints := startEtcd(b).Client.Endpoints()
	clients := make([]*clientv3.Client, nodes)
	for n := range clients {
		c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[n] = c
	}
	writer := clients[0]
	value := strings.Repeat("x", 330)
	events := 2 * nodes
	var allMS, afterMS float64
	for i := 0; i < b.N; i++ {
		prefix := fmt.Sprintf("/floor/run%d/", i)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var last time.Time
		watchCtx, stop := context.WithTimeout(ctx, 5*time.Minute)
		ready := make(chan struct{}, nodes)
		for _, c := range clients {
			wg.Add(1)
			wch := c.Watch(clientv3.WithRequireLeader(watchCtx), prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
			go func() {
				defer wg.Done()
				got := 0
				for resp := range wch {
					if resp.Created {
						ready <- struct{}{}
						continue
					}
					got += len(resp.Events)
					if got >= events {
						mu.Lock()
						if now := time.Now(); now.After(last) {
							last = now
						}
						mu.Unlock()
						return
					}
				}
				b.Errorf("a watch ended after %d of %d events", got, events)
			}()
		}
		for range clients {
			<-ready
		}
		start := time.Now()
		// The puts come from nodes/10 writers at once, as exports come from many
		// nodes; the writers share the first client.
		var pw sync.WaitGroup
		var lastPut time.Time
		var putMu sync.Mutex
		writers := max(nodes/10, 1)
		for w := 0; w < writers; w++ {
			pw.Add(1)
			go func(w int) {
				defer pw.Done()
				// A node's two exports in one transaction, as a node's catalog
				// replaces its exports: one revision, one watch response.
				for n := w; n < nodes; n += writers {
					if _, err := writer.Txn(ctx).Then(
						clientv3.OpPut(fmt.Sprintf("%snode%04d-0", prefix, n), value),
						clientv3.OpPut(fmt.Sprintf("%snode%04d-1", prefix, n), value)).Commit(); err != nil {
						b.Error(err)
						return
					}
				}
				putMu.Lock()
				if now := time.Now(); now.After(lastPut) {
					lastPut = now
				}
				putMu.Unlock()
			}(w)
		}
		pw.Wait()
		wg.Wait()
		stop()
		allMS += float64(last.Sub(start).Milliseconds())
		afterMS += float64(last.Sub(lastPut).Milliseconds())
	}
	b.ReportMetric(allMS/float64(b.N), "ms-all-received")
	b.ReportMetric(afterMS/float64(b.N), "ms-after-last-put")
}
