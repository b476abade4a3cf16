package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// pdbLoad is 100 nodes with 100 exported files each, their facts and a report,
// stored alike in the real PuppetDB and in mgmt-puppet.
const pdbNodes, pdbExports = 100, 100

func post(b *testing.B, addr, command, certname string, version int, body string) {
	b.Helper()
	u := "http://" + addr + "/pdb/cmd/v1?command=" + command + "&version=" + fmt.Sprint(version) + "&certname=" + certname
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s to %s: %s", command, addr, resp.Status)
	}
}

func loadPDB(b *testing.B, addrs ...string) {
	b.Helper()
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	for n := 0; n < pdbNodes; n++ {
		node := fmt.Sprintf("node%03d.example", n)
		var rs []string
		for i := 0; i < pdbExports; i++ {
			rs = append(rs, fmt.Sprintf(`{"type":"File","title":"/srv/shared/%s-%d","tags":["file","shared","node"],`+
				`"exported":true,"file":"/etc/puppet/code/site.pp","line":%d,"parameters":{"ensure":"file","content":"from %s\n"}}`,
				node, i, i+1, node))
		}
		rs = append(rs, `{"type":"Class","title":"Main","tags":["class"],"exported":false,"parameters":{}}`)
		catalog := fmt.Sprintf(`{"certname":%q,"version":"1","environment":"production","transaction_uuid":"00000000-0000-4000-8000-%012d",`+
			`"catalog_uuid":"00000000-0000-4000-9000-%012d","code_id":null,"job_id":null,"producer_timestamp":%q,"producer":"server","resources":[%s],"edges":[]}`,
			node, n, n, now, strings.Join(rs, ","))
		facts := fmt.Sprintf(`{"certname":%q,"environment":"production","producer_timestamp":%q,"producer":"server",`+
			`"values":{"kernel":"Linux","os":{"family":"Debian"},"n":%d}}`, node, now, n)
		report := fmt.Sprintf(`{"certname":%q,"environment":"production","puppet_version":"7.23.0","report_format":12,`+
			`"configuration_version":"1","start_time":%q,"end_time":%q,"producer_timestamp":%q,"producer":"server",`+
			`"transaction_uuid":"00000000-0000-4000-8000-%012d","catalog_uuid":"00000000-0000-4000-9000-%012d","code_id":null,"job_id":null,"cached_catalog_status":"not_used",`+
			`"status":"unchanged","noop":false,"noop_pending":false,"corrective_change":false,"type":"agent",`+
			`"metrics":[{"category":"resources","name":"total","value":101}],"logs":[],"resources":[]}`,
			node, now, now, now, n, n)
		for _, a := range addrs {
			post(b, a, "replace_facts", node, 5, facts)
			post(b, a, "replace_catalog", node, 9, catalog)
			post(b, a, "store_report", node, 8, report)
		}
	}
}

// latencies asks path with q n times and returns the p50 and p99 in ms.
func latencies(b *testing.B, addr, path string, q url.Values, n int) (p50, p99 float64) {
	b.Helper()
	c := &http.Client{Timeout: time.Minute}
	u := "http://" + addr + path + "?" + q.Encode()
	ds := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		resp, err := c.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		var sink [64 << 10]byte
		for {
			if _, err := resp.Body.Read(sink[:]); err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %s", u, resp.Status)
		}
		ds = append(ds, float64(time.Since(start))/1e6)
	}
	sort.Float64s(ds)
	return ds[n/2], ds[(n*99)/100]
}

// BenchmarkPuppetDBQuery compares query latency with the real PuppetDB 7.12.1
// (tool=puppet, with PostgreSQL, on the same machine) over the same 100 nodes with
// 100 exported files each: a collector's query (what the compiler sends for
// File <<| tag == 'shared' |>>, answering 9,900 resources) and the node list
// Puppetboard asks pypuppetdb for (nodes, then event-counts of the latest
// reports). Each op asks 100 times; p50 and p99 are of those.
func BenchmarkPuppetDBQuery(b *testing.B) {
	requirePuppetCA(b)
	dir := b.TempDir()
	site := filepath.Join(dir, "site")
	puppetCA(b, "setup", site, "server")
	ssldir := filepath.Join(site, "ssl")
	real := startRealPuppetDB(b, ssldir, "server")
	mgmtHTTP := freeAddr(b)
	startPuppetDB(b, ssldir, "http://"+freeAddr(b), "--http-listen", mgmtHTTP)
	loadPDB(b, real.http, mgmtHTTP)
	count := url.Values{"query": {`["extract",[["function","count"]],["=","exported",true]]`}}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		_, body := real.get(b, "/pdb/query/v4/resources", count)
		if strings.Contains(string(body), fmt.Sprintf(`"count":%d`, pdbNodes*pdbExports)) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the real PuppetDB has not stored the load within 5 minutes: %s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	collector := url.Values{"query": {`["and",["=","type","File"],["=","exported",true],["not",["=","certname","node000.example"]],["=","tag","shared"]]`}}
	nodes := url.Values{}
	counts := url.Values{"query": {`["=","latest_report?",true]`}, "summarize_by": {"certname"}}
	for _, c := range []struct {
		name string
		ask  func(addr string) (float64, float64)
	}{
		{"collector-9900-of-10000", func(a string) (float64, float64) {
			return latencies(b, a, "/pdb/query/v4/resources", collector, 100)
		}},
		{"node-list-100", func(a string) (float64, float64) {
			p50, p99 := latencies(b, a, "/pdb/query/v4/nodes", nodes, 100)
			c50, c99 := latencies(b, a, "/pdb/query/v4/event-counts", counts, 100)
			return p50 + c50, p99 + c99
		}},
	} {
		for _, tool := range []struct{ name, addr string }{{"mgmt-puppet", mgmtHTTP}, {"puppet", real.http}} {
			b.Run("query="+c.name+"/tool="+tool.name, func(b *testing.B) {
				var p50, p99 float64
				for i := 0; i < b.N; i++ {
					x, y := c.ask(tool.addr)
					p50, p99 = p50+x, p99+y
				}
				b.ReportMetric(p50/float64(b.N), "p50-ms")
				b.ReportMetric(p99/float64(b.N), "p99-ms")
			})
		}
	}
}
