package pdbquery

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
	"github.com/mgmt-puppet/mgmt-puppet/internal/testport"
)

func freeURL(t *testing.T) string {
	t.Helper()
	return testport.URL(t)
}

// store is a real embedded etcd holding the captures of real Puppet: node A's
// catalog, node B's report, and facts of both.
func store(t *testing.T) exported.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := exported.Embedded(ctx, exported.EmbeddedConfig{DataDir: t.TempDir(), ClientURL: freeURL(t), PeerURL: freeURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	s := e.Store()
	raw, err := os.ReadFile("../exported/testdata/nodea.replace_catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	var c exported.Catalog
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	c.Raw = raw
	if err := s.ReplaceCatalog(ctx, &c); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"nodea.example", "nodeb.example"} {
		if err := s.ReplaceFacts(ctx, &exported.Facts{Certname: n, Environment: "production",
			Values: json.RawMessage(`{"kernel":"Linux","os":{"family":"Debian"},"processors":{"count":2}}`)}); err != nil {
			t.Fatal(err)
		}
	}
	report, err := os.ReadFile("../exported/testdata/store_report.json")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 6, 18, 11, 474e6, time.UTC)
	if err := s.StoreReport(ctx, &exported.Report{Certname: "nodeb.example", Hash: "h1", Type: "agent", Raw: report,
		Latest: exported.LatestReport{Hash: "h1", Status: "changed", ProducerTimestamp: at, EndTime: at, Environment: "production"}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestQuery(t *testing.T) {
	e := &Engine{Store: store(t)}
	cases := []struct {
		name, entity, ast string
		paging            Paging
		want              string // the answer, compact JSON; or "error: " and a part of it
	}{
		{"nodes", "nodes", `["extract",["certname","latest_report_status"]]`, Paging{OrderBy: []Order{{Field: "certname"}}},
			`[{"certname":"nodea.example","latest_report_status":null},{"certname":"nodeb.example","latest_report_status":"changed"}]`},
		{"a fact of nodes", "nodes", `["extract","certname",["=",["fact","kernel"],"Linux"]]`, Paging{Limit: 1},
			`[{"certname":"nodea.example"}]`},
		{"count by fact name", "facts", `["extract",[["function","count"],"name"],["~","certname","^node"],["group_by","name"]]`,
			Paging{OrderBy: []Order{{Field: "name", Desc: true}}},
			`[{"count":2,"name":"processors"},{"count":2,"name":"os"},{"count":2,"name":"kernel"}]`},
		{"exported resources by parameter", "resources",
			`["extract",["title"],["and",["=","exported",true],["=",["parameter","ensure"],"file"]]]`, Paging{},
			`[{"title":"/tmp/pdbdemo/out/from-a"}]`},
		{"comparison on a timestamp", "reports", `["extract","certname",[">","end_time","2026-11-25 06:00:00"]]`, Paging{},
			`[{"certname":"nodeb.example"}]`},
		{"in a subquery", "nodes", `["extract","certname",["in","certname",["extract","certname",["select_reports",["=","status","changed"]]]]]`,
			Paging{}, `[{"certname":"nodeb.example"}]`},
		{"root with order and limit", "", `["from","facts",["extract",["certname","value"],["=","name","kernel"]],["order_by",[["certname","desc"]]],["limit",1]]`,
			Paging{}, `[{"certname":"nodeb.example","value":"Linux"}]`},
		{"an unknown field", "nodes", `["=","colour","red"]`, Paging{}, `error: "colour" is not a queryable field of nodes`},
		{"an unknown operator", "nodes", `["~>","certname",["a"]]`, Paging{}, `error: unknown query operator "~>"`},
		{"a bad regexp", "nodes", `["~","certname","("]`, Paging{}, "error: \"~\": error parsing regexp"},
		{"an empty order_by key", "", `["from","nodes",["order_by",[[]]]]`, Paging{}, `error: order_by key []`},
		{"order by an unknown field", "nodes", ``, Paging{OrderBy: []Order{{Field: "colour"}}}, `error: order_by: unknown field "colour"`},
		{"nested too deep", "nodes", strings.Repeat(`["in","certname",["extract","certname",["select_nodes",`, 40) + `["=","certname","x"]` +
			strings.Repeat(`]]]`, 40), Paging{}, "error: subqueries nested deeper than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := e.Query(context.Background(), c.entity, json.RawMessage(c.ast), c.paging)
			if want, isErr := strings.CutPrefix(c.want, "error: "); isErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one with %q", err, want)
				}
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error %T, want *Error (the client's)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := show(res.Rows); got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// TestConcurrency: beyond Concurrency queries at once, a query waits its turn, and
// gives up when its request ends.
func TestConcurrency(t *testing.T) {
	e := &Engine{Store: store(t), Concurrency: 1}
	release, err := e.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := e.Query(ctx, "nodes", nil, Paging{}); err != context.DeadlineExceeded {
		t.Fatalf("a query beyond the limit: %v, want it to wait until its deadline", err)
	}
	release()
	if _, err := e.Query(context.Background(), "nodes", nil, Paging{}); err != nil {
		t.Fatalf("once the slot is free: %v", err)
	}
}
