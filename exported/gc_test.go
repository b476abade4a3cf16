package exported

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// TestGC follows a node through PuppetDB's retention: it expires once it has sent
// nothing for the node TTL (its exports withdrawn), comes back with its next
// command, and is forgotten once deactivated for the purge TTL, everything of it
// (catalog, facts, reports, exports) gone; another node is left alone.
func TestGC(t *testing.T) {
	ctx := context.Background()
	s := startEtcd(t).Store()
	c := referenceCatalog(t)
	raw, err := os.ReadFile("testdata/nodea.replace_catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	c.Raw = raw
	if err := s.ReplaceCatalog(ctx, c); err != nil {
		t.Fatal(err)
	}
	other := &Facts{Certname: "other.example", Environment: "production", Values: json.RawMessage(`{"kernel":"Linux"}`)}
	if err := s.ReplaceFacts(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreReport(ctx, &Report{Certname: c.Certname, Hash: "h1", Type: "agent", Raw: json.RawMessage(`{}`),
		Latest: LatestReport{Hash: "h1", ProducerTimestamp: time.Now(), Status: "changed"}}); err != nil {
		t.Fatal(err)
	}
	all, _ := ParseQuery(nil)
	exports := func() int {
		rs, err := s.Resources(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	node := func(name string) *Node {
		snap, err := s.Snapshot(ctx, PartNodes)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range snap.Nodes {
			if n.Certname == name {
				return &n
			}
		}
		return nil
	}
	before := exports()
	if before == 0 {
		t.Fatal("the reference catalog exports nothing")
	}

	// Within the TTL nothing happens; past it, the node expires.
	if st, err := s.GC(ctx, time.Now().Add(NodeTTL/2), NodeTTL, NodePurgeTTL); err != nil || st != (GCStats{}) {
		t.Fatalf("GC within the TTL: %+v, %v", st, err)
	}
	later := time.Now().Add(NodeTTL + time.Hour)
	if st, err := s.GC(ctx, later, NodeTTL, NodePurgeTTL); err != nil || st.Expired != 2 {
		t.Fatalf("GC past the TTL: %+v, %v; want both nodes expired", st, err)
	}
	if n := node(c.Certname); n == nil || n.Expired == nil || n.Active() {
		t.Fatalf("%s after expiry: %+v", c.Certname, n)
	}
	if got := exports(); got != 0 {
		t.Fatalf("%d exports of an expired node still answer collectors", got)
	}
	if err := byTypeAgrees(ctx, s.(*etcdStore)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}

	// A command brings other.example back; then the purge forgets the node that
	// stayed away, and only that one.
	if err := s.ReplaceFacts(ctx, other); err != nil {
		t.Fatal(err)
	}
	if n := node("other.example"); n == nil || !n.Active() {
		t.Fatalf("other.example after a command: %+v, want it active", n)
	}
	if st, err := s.GC(ctx, later.Add(NodePurgeTTL+time.Hour), 0, NodePurgeTTL); err != nil || st.Purged != 1 {
		t.Fatalf("purge: %+v, %v; want one node purged", st, err)
	}
	if n := node(c.Certname); n != nil {
		t.Fatalf("%s after the purge: %+v", c.Certname, n)
	}
	snap, err := s.Snapshot(ctx, PartNodes|PartFacts|PartCatalogs|PartReports)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Nodes) != 1 || len(snap.Facts) != 1 || len(snap.Catalogs) != 0 || len(snap.Reports) != 0 {
		t.Fatalf("after the purge: %d nodes, %d facts, %d catalogs, %d reports; want other.example's node and facts only",
			len(snap.Nodes), len(snap.Facts), len(snap.Catalogs), len(snap.Reports))
	}

	// A node alive on its export lease does not expire, however long since its
	// last command.
	alive := &Facts{Certname: "alive.example", Environment: "production", Values: json.RawMessage(`{}`)}
	if err := s.ReplaceFacts(ctx, alive); err != nil {
		t.Fatal(err)
	}
	if err := s.KeepAlive(ctx, "alive.example", time.Minute); err != nil {
		t.Fatal(err)
	}
	if st, err := s.GC(ctx, time.Now().Add(100*NodeTTL), NodeTTL, NodePurgeTTL); err != nil || st.Expired != 1 {
		t.Fatalf("GC with alive.example alive: %+v, %v; want other.example expired only", st, err)
	}
	if n := node("alive.example"); n == nil || !n.Active() {
		t.Fatalf("alive.example: %+v, want it active", n)
	}
}

// TestStaleCommands: as PuppetDB, a catalog older than the stored one, or than
// the node's deactivation, and a deactivation older than the stored catalog, are
// ignored.
func TestStaleCommands(t *testing.T) {
	ctx := context.Background()
	s := startEtcd(t).Store()
	all, _ := ParseQuery(nil)
	titles := func() string {
		rs, err := s.Resources(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.Title)
		}
		return strings.Join(out, " ")
	}
	catalog := func(at, title string) {
		t.Helper()
		c := &Catalog{Certname: "n.example", ProducerTimestamp: at, Environment: "production",
			Resources: []CatalogResource{{Type: "File", Title: title, Exported: true}}}
		if err := s.ReplaceCatalog(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	catalog("2026-12-01T10:00:00.000Z", "/new")
	catalog("2026-12-01T09:00:00.000Z", "/old")
	if got := titles(); got != "/new" {
		t.Fatalf("after an older catalog: %q, want /new", got)
	}
	if err := s.Deactivate(ctx, "n.example", time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if got := titles(); got != "/new" {
		t.Fatalf("after a deactivation older than the catalog: %q, want /new", got)
	}
	if err := s.Deactivate(ctx, "n.example", time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	catalog("2026-12-01T10:30:00.000Z", "/late")
	if got := titles(); got != "" {
		t.Fatalf("after a catalog older than the deactivation: %q, want nothing", got)
	}
	catalog("2026-12-01T12:00:00.000Z", "/revived")
	if got := titles(); got != "/revived" {
		t.Fatalf("after a newer catalog: %q, want /revived", got)
	}
}
