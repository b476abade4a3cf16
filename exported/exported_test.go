package exported

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testport"
)

// freeURL is an http URL on a loopback port that was free a moment ago.
func freeURL(t testing.TB) string {
	t.Helper()
	return testport.URL(t)
}

// startEtcd starts a real embedded etcd member in a temp dir.
func startEtcd(t testing.TB) *Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := Embedded(ctx, EmbeddedConfig{DataDir: t.TempDir(), ClientURL: freeURL(t), PeerURL: freeURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// referenceCatalog is the replace_catalog payload real Puppet sent to PuppetDB
// (testdata, from the PuppetDB captures of ../shared/reference/puppetdb).
func referenceCatalog(t testing.TB) *Catalog {
	t.Helper()
	data, err := os.ReadFile("testdata/nodea.replace_catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	var c Catalog
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func refs(rs []Resource) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Certname+" "+r.Ref())
	}
	return out
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	s := startEtcd(t).Store()
	a := referenceCatalog(t)
	if err := s.ReplaceCatalog(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := &Catalog{Certname: "nodeb.example", Environment: "production", Resources: []CatalogResource{
		{Type: "File", Title: "/tmp/pdbdemo/out/from-b", Tags: []string{"shared", "file"}, Exported: true,
			Parameters: map[string]any{"ensure": "file", "mode": "0644"}},
		{Type: "Host", Title: "b.example", Tags: []string{"host"}, Exported: true, Parameters: map[string]any{"ip": "10.0.0.2"}},
		{Type: "File", Title: "/local", Exported: false},
	}}
	if err := s.ReplaceCatalog(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"everything", ``, []string{"nodea.example File[/tmp/pdbdemo/out/from-a]", "nodeb.example File[/tmp/pdbdemo/out/from-b]", "nodeb.example Host[b.example]"}},
		// The queries real Puppet's terminus sent (see ../shared/notes/puppetdb.md).
		{"collector on nodea", `["and",["=","type","File"],["=","exported",true],["not",["=","certname","nodea.example"]],["=","tag","shared"]]`,
			[]string{"nodeb.example File[/tmp/pdbdemo/out/from-b]"}},
		{"or with a parameter", `["and",["=","type","File"],["=","exported",true],["not",["=","certname","nodec.example"]],["or",["and",["=","tag","shared"],["not",["=","title","/nope"]]],["=",["parameter","mode"],"0644"]]]`,
			[]string{"nodea.example File[/tmp/pdbdemo/out/from-a]", "nodeb.example File[/tmp/pdbdemo/out/from-b]"}},
		{"every host", `["and",["=","type","Host"],["=","exported",true],["not",["=","certname","nodec.example"]]]`,
			[]string{"nodeb.example Host[b.example]"}},
		{"tag case", `["=","tag","SHARED"]`, []string{"nodea.example File[/tmp/pdbdemo/out/from-a]", "nodeb.example File[/tmp/pdbdemo/out/from-b]"}},
		{"regexp", `["~","title","from-a$"]`, []string{"nodea.example File[/tmp/pdbdemo/out/from-a]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseQuery([]byte(tc.query))
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Resources(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(refs(got)) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", refs(got), tc.want)
			}
		})
	}

	// A new catalog replaces the node's exports: stale ones go.
	b.Resources = b.Resources[:1]
	if err := s.ReplaceCatalog(ctx, b); err != nil {
		t.Fatal(err)
	}
	all, _ := ParseQuery(nil)
	got, err := s.Resources(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[nodea.example File[/tmp/pdbdemo/out/from-a] nodeb.example File[/tmp/pdbdemo/out/from-b]]"; fmt.Sprint(refs(got)) != want {
		t.Errorf("after a new catalog: %v, want %v", refs(got), want)
	}
	// A deactivated node's exports are withdrawn.
	if err := s.Deactivate(ctx, "nodea.example", time.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Resources(ctx, all)
	if want := "[nodeb.example File[/tmp/pdbdemo/out/from-b]]"; fmt.Sprint(refs(got)) != want {
		t.Errorf("after deactivation: %v, want %v", refs(got), want)
	}
	// The stored form is PuppetDB's.
	if r := got[0]; r.Resource != resourceHash("File", "/tmp/pdbdemo/out/from-b") || !r.Exported || r.Environment != "production" {
		t.Errorf("stored resource %+v", r)
	}
}

func TestFacts(t *testing.T) {
	ctx := context.Background()
	s := startEtcd(t).Store()
	if f, err := s.Facts(ctx, "x.example"); err != nil || f != nil {
		t.Fatalf("unknown node: %v, %v", f, err)
	}
	in := &Facts{Certname: "x.example", Environment: "production", Values: json.RawMessage(`{"os":{"family":"Debian"}}`)}
	if err := s.ReplaceFacts(ctx, in); err != nil {
		t.Fatal(err)
	}
	f, err := s.Facts(ctx, "x.example")
	if err != nil || f == nil || string(f.Values) != `{"os":{"family":"Debian"}}` {
		t.Fatalf("facts %+v, %v", f, err)
	}
}

func TestParseQueryErrors(t *testing.T) {
	for _, q := range []string{
		`["<","line",3]`,
		`["=","owner","root"]`,
		`"resources[title] { type = 'File' }"`,
		`["not"]`,
		`["~","title","("]`,
		`{"a":1}`,
		`[`,
	} {
		_, err := ParseQuery([]byte(q))
		var qe *QueryError
		if err == nil || !asQueryError(err, &qe) {
			t.Errorf("%s: error %v, want a QueryError", q, err)
		}
	}
}

func asQueryError(err error, target **QueryError) bool {
	qe, ok := err.(*QueryError)
	if ok {
		*target = qe
	}
	return ok
}

func TestCollectorCertname(t *testing.T) {
	q, err := ParseQuery([]byte(`["and",["=","type","File"],["=","exported",true],["not",["=","certname","nodea.example"]],["=","tag","shared"]]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Certname(); got != "nodea.example" {
		t.Errorf("certname %q, want nodea.example", got)
	}
}

// The types a query can match bound what a node watches: every collector query
// Puppet's terminus sends names one (../shared/notes/puppetdb.md has real ones).
func TestQueryTypes(t *testing.T) {
	for _, tc := range []struct {
		query string
		types []string // nil: any type
	}{
		{`["and",["=","type","File"],["=","exported",true],["not",["=","certname","nodea.example"]],["=","tag","shared"]]`, []string{"File"}},
		{`["and",["=","type","Host"],["=","exported",true],["not",["=","certname","nodec.example"]]]`, []string{"Host"}},
		{`["and",["and",["=","type","File"],["=","exported",true]],["=","tag","x"]]`, []string{"File"}},
		{`["or",["=","type","Host"],["and",["=","tag","a"],["=","type","Sshkey"]]]`, []string{"Host", "Sshkey"}},
		{`["or",["=","type","Host"],["=","tag","a"]]`, nil},
		{`["=","tag","shared"]`, nil},
		{`["not",["=","type","File"]]`, nil},
		{`["=",["parameter","type"],"File"]`, nil},
		{`["~","type","Fi.*"]`, nil},
		{``, nil},
	} {
		var raw []byte
		if tc.query != "" {
			raw = []byte(tc.query)
		}
		q, err := ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		types, all := q.Types()
		if all != (tc.types == nil) || !reflect.DeepEqual(types, tc.types) {
			t.Errorf("%s: types %v (any: %v), want %v", tc.query, types, all, tc.types)
		}
	}
}

// TestKeepAlive: a node on a lease counts while it keeps the lease alive; once it
// stops (as a dead node would), its exports drop out of queries, and a watcher is
// told; alive again, they are back.
func TestKeepAlive(t *testing.T) {
	ctx := context.Background()
	s := startEtcd(t).Store()
	export := &Catalog{Certname: "mortal.example", Environment: "production",
		Resources: []CatalogResource{{Type: "File", Title: "/m", Exported: true}}}
	if err := s.ReplaceCatalog(ctx, export); err != nil {
		t.Fatal(err)
	}
	all, _ := ParseQuery(nil)
	count := func() int {
		rs, err := s.Resources(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	// The watcher collects files: its cache holds them.
	if err := s.RecordCollector(ctx, "watcher.example", json.RawMessage(`["=","type","File"]`)); err != nil {
		t.Fatal(err)
	}
	files, _ := ParseQuery(json.RawMessage(`["=","type","File"]`))
	changed := make(chan struct{}, 100)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	cache, err := s.Inform(watchCtx, "watcher.example", func() { changed <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	// The cache comes to answer as the store does.
	cached := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			rs, err := cache.Resources(ctx, files)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the cache answers %d exports after 5 s, want %d", len(rs), want)
			}
		}
	}

	life, die := context.WithCancel(ctx)
	if err := s.KeepAlive(life, "mortal.example", time.Second); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("alive: %d exports, want 1", n)
	}
	cached(1)
	for len(changed) > 0 {
		<-changed
	}
	die()
	deadline := time.Now().Add(10 * time.Second)
	for count() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the exports of a node whose lease ran out are still answered after 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Error("no watch event when the node's lease ran out")
	}
	cached(0)
	again, stop := context.WithCancel(ctx)
	defer stop()
	if err := s.KeepAlive(again, "mortal.example", time.Second); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("alive again: %d exports, want 1", n)
	}
	cached(1)
	if err := s.KeepAlive(ctx, "mortal.example", 0); err != nil {
		t.Fatal(err)
	}
	stop()
	time.Sleep(2500 * time.Millisecond)
	if n := count(); n != 1 {
		t.Errorf("off the lease: %d exports, want 1 whether it runs or not", n)
	}
}
