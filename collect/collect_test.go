package collect

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/exported"
)

// startEtcd starts a real embedded etcd member for tb; it stops with tb.
func startEtcd(tb testing.TB) *exported.Etcd {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := exported.Embedded(ctx, exported.EmbeddedConfig{DataDir: tb.TempDir(), ClientURL: freeURL(tb), PeerURL: freeURL(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Close() })
	return e
}

func store(t *testing.T) exported.Store {
	t.Helper()
	return startEtcd(t).Store()
}

func export(t *testing.T, s exported.Store, node string, res ...exported.CatalogResource) {
	t.Helper()
	for i := range res {
		res[i].Exported = true
	}
	if err := s.ReplaceCatalog(context.Background(), &exported.Catalog{Certname: node, Environment: "production", Resources: res}); err != nil {
		t.Fatal(err)
	}
}

// TestBuild checks what a node's rebuilt catalog holds: collected resources in
// the collector's scope, what is no longer exported gone, and what may not be
// collected live left out with a warning.
func TestBuild(t *testing.T) {
	s := store(t)
	ctx := context.Background()
	shared := []string{"shared"}
	export(t, s, "a.example",
		exported.CatalogResource{Type: "File", Title: "/a", Tags: shared, Parameters: map[string]any{"content": "a\n", "notify": "Service[x]"}},
		exported.CatalogResource{Type: "Exec", Title: "rm -rf /", Tags: shared},
		exported.CatalogResource{Type: "Haproxy::Balancermember", Title: "a", Tags: shared},
		exported.CatalogResource{Type: "File", Title: "/both", Tags: shared})
	export(t, s, "b.example", exported.CatalogResource{Type: "File", Title: "/both", Tags: shared})
	export(t, s, "c.example", exported.CatalogResource{Type: "File", Title: "/both", Tags: shared})
	q := `["and",["=","exported",true],["not",["=","certname","me.example"]],["=","tag","shared"]]`
	if err := s.RecordCollector(ctx, "me.example", json.RawMessage(q)); err != nil {
		t.Fatal(err)
	}
	// As compiled: /gone was collected then (no file, no line), /own is the node's
	// own export, inside Seed[me] where the collector is.
	compiled := &catalog.Catalog{Name: "me.example", CatalogFormat: 2,
		Resources: []catalog.Resource{
			{Type: "Stage", Title: "main"}, {Type: "Class", Title: "main", Kind: "class"},
			{Type: "Seed", Title: "me", Kind: "defined_type"},
			{Type: "File", Title: "/own", Tags: shared, Exported: true, File: "site.pp", Line: 3},
			{Type: "File", Title: "/gone", Tags: shared, Kind: "compilable_type"},
			{Type: "File", Title: "/local", Tags: []string{"file"}, File: "site.pp", Line: 9},
		},
		Edges: []catalog.Edge{{Source: "Stage[main]", Target: "Class[main]"}, {Source: "Class[main]", Target: "Seed[me]"},
			{Source: "Seed[me]", Target: "File[/own]"}, {Source: "Seed[me]", Target: "File[/gone]"},
			{Source: "Class[main]", Target: "File[/local]"}},
	}
	var warnings []string
	c := &Collector{Store: s, Catalog: compiled, Allowed: func(typ string) bool { return typ != "Exec" },
		Warnf: func(format string, args ...any) { warnings = append(warnings, format) }}
	got, digest, err := c.Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, r := range got.Resources {
		refs = append(refs, r.Ref())
	}
	want := "Stage[main] Class[main] Seed[me] File[/own] File[/local] File[/a]"
	if strings.Join(refs, " ") != want {
		t.Errorf("resources %s, want %s", strings.Join(refs, " "), want)
	}
	edges := map[string]string{}
	for _, e := range got.Edges {
		edges[e.Target] = e.Source
	}
	if edges["File[/a]"] != "Seed[me]" || edges["File[/gone]"] != "" {
		t.Errorf("edges %v: want File[/a] in Seed[me] and no edge to File[/gone]", got.Edges)
	}
	for _, r := range got.Resources {
		if r.Title == "/a" {
			if _, ok := r.Parameters["notify"]; ok || r.Parameters["content"] != "a\n" {
				t.Errorf("collected parameters %v", r.Parameters)
			}
		}
	}
	sort.Strings(warnings)
	if len(warnings) != 3 || !strings.HasPrefix(warnings[0], "A duplicate resource was found") ||
		!strings.Contains(warnings[1], "defined type") || !strings.Contains(warnings[2], "may not be collected") {
		t.Errorf("warnings %q: want the duplicate, the defined type and the Exec", warnings)
	}
	// The same state gives the same digest; a change of an export changes it.
	_, again, _ := c.Build(ctx)
	export(t, s, "a.example", exported.CatalogResource{Type: "File", Title: "/a", Tags: shared, Parameters: map[string]any{"content": "A\n"}})
	_, changed, _ := c.Build(ctx)
	if digest == "" || again != digest || changed == digest {
		t.Errorf("digests %q, %q, %q: want equal, then different", digest, again, changed)
	}
}

// TestNoCollectors: a node that collects nothing keeps its catalog as compiled.
func TestNoCollectors(t *testing.T) {
	s := store(t)
	compiled := &catalog.Catalog{Name: "quiet.example"}
	c := &Collector{Store: s, Catalog: compiled}
	got, digest, err := c.Build(context.Background())
	if err != nil || got != compiled || digest != "" {
		t.Errorf("Build: %p %q %v, want the compiled catalog", got, digest, err)
	}
}
