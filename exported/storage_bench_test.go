package exported

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkReportStorage stores reports as real Puppet sends them (the
// store_report payload captured from puppet apply, testdata/store_report.json)
// for 1000 nodes in turn, compacts etcd's history as the embedded member does
// every hour, and reports the bytes each report takes in etcd's database, and
// what the retention of PuppetDB's defaults takes at 1000 nodes: 48 reports a day
// each (one every 30 minutes) for the 14 days of report-ttl, 672,000 reports.
//
//	go test -run '^$' -bench ReportStorage -benchtime 20000x ./exported
func BenchmarkReportStorage(b *testing.B) {
	ctx := context.Background()
	e := startEtcd(b)
	s := e.Store()
	payload, err := os.ReadFile("testdata/store_report.json")
	if err != nil {
		b.Fatal(err)
	}
	size := func() int64 {
		resp, err := e.Client.Get(ctx, "x")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Client.Compact(ctx, resp.Header.Revision, compactPhysical()); err != nil {
			b.Fatal(err)
		}
		st, err := e.Client.Status(ctx, e.Client.Endpoints()[0])
		if err != nil {
			b.Fatal(err)
		}
		return st.DbSizeInUse
	}
	before := size()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		node := fmt.Sprintf("node%04d.example", i%1000)
		err := s.StoreReport(ctx, &Report{Certname: node, Hash: fmt.Sprintf("%040x", i), Type: "agent",
			Raw: json.RawMessage(payload), Latest: LatestReport{Hash: fmt.Sprintf("%040x", i),
				ProducerTimestamp: time.Unix(int64(i), 0), EndTime: time.Unix(int64(i), 0), Status: "unchanged"}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	per := float64(size()-before) / float64(b.N)
	b.ReportMetric(per, "bytes/report")
	b.ReportMetric(per*672000/(1<<30), "GiB/1000-nodes-14d")
}

func compactPhysical() clientv3.CompactOption { return clientv3.WithCompactPhysical() }
