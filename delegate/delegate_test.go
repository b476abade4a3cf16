package delegate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

func TestSubCatalog(t *testing.T) {
	head := &catalog.Catalog{Name: "n.example", Version: "7", CatalogFormat: 2, Environment: "production"}
	stage := &catalog.Resource{Type: "Stage", Title: "main", Kind: "compilable_type", Parameters: map[string]any{"name": "main"}}
	class := &catalog.Resource{Type: "Class", Title: "web", Kind: "class"}
	host := &catalog.Resource{Type: "Host", Title: "db", Kind: "compilable_type", Tags: []string{"host"},
		Parameters: map[string]any{"ip": "10.0.0.5", "require": "File[/x]", "notify": []any{"Exec[y]"},
			"comment": catalog.Sensitive{Value: "secret"}, "host_aliases": []any{"d", catalog.Typed{Type: "SemVer", Value: "1.2.3"}}}}
	key := &catalog.Resource{Type: "Ssh_authorized_key", Title: "k", Kind: "compilable_type", Parameters: map[string]any{"user": "root"},
		SensitiveParameters: []string{"user"}}
	r := NewRunner(Config{})
	reqs := []*request{
		{res: r.Resource(head, host, []*catalog.Resource{stage, class}), apply: true, refresh: true},
		{res: r.Resource(head, key, []*catalog.Resource{stage}), apply: false, refresh: true, refreshNoop: true},
	}
	data, err := subCatalog(head, reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got jsonCatalog
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, res := range got.Resources {
		refs = append(refs, res.Type+"["+res.Title+"]")
	}
	wantRefs := []string{"Stage[main]", "Class[web]", "Host[db]", "Notify[mgmt-puppet refresh Host[db]]",
		"Ssh_authorized_key[k]", "Notify[mgmt-puppet refresh Ssh_authorized_key[k]]"}
	if !reflect.DeepEqual(refs, wantRefs) {
		t.Errorf("resources %q, want %q", refs, wantRefs)
	}
	wantEdges := []jsonEdge{{"Stage[main]", "Class[web]"}, {"Class[web]", "Host[db]"}, {"Stage[main]", "Ssh_authorized_key[k]"}}
	if !reflect.DeepEqual(got.Edges, wantEdges) {
		t.Errorf("edges %v, want %v", got.Edges, wantEdges)
	}
	hp := got.Resources[2].Parameters
	for _, rel := range []string{"require", "notify"} {
		if _, ok := hp[rel]; ok {
			t.Errorf("Host keeps its relationship %s", rel)
		}
	}
	if _, ok := hp["noop"]; ok {
		t.Error("an applied resource is made noop")
	}
	if want := map[string]any{"__ptype": "Sensitive", "__pvalue": "secret"}; !reflect.DeepEqual(hp["comment"], want) {
		t.Errorf("comment %v, want %v", hp["comment"], want)
	}
	if want := []any{"d", map[string]any{"__ptype": "SemVer", "__pvalue": "1.2.3"}}; !reflect.DeepEqual(hp["host_aliases"], want) {
		t.Errorf("host_aliases %v, want %v", hp["host_aliases"], want)
	}
	if got.Resources[4].Parameters["noop"] != true {
		t.Error("a resource checked without applying is not noop")
	}
	if !reflect.DeepEqual(got.Resources[4].Sensitive, []string{"user"}) {
		t.Errorf("sensitive_parameters %v", got.Resources[4].Sensitive)
	}
	if trig := got.Resources[3].Parameters; trig["noop"] != nil || !reflect.DeepEqual(trig["notify"], []any{"Host[db]"}) || trig["loglevel"] != "debug" {
		t.Errorf("refresh trigger %v", trig)
	}
	if got.Resources[5].Parameters["noop"] != true {
		t.Error("a noop refresh trigger is not noop")
	}
	if got.Name != "n.example" || got.Environment != "production" || got.CatalogFormat != 2 {
		t.Errorf("header %+v", got)
	}
}

func TestUnknown(t *testing.T) {
	tmp := t.TempDir()
	own := filepath.Join(tmp, "puppet", "type")
	mod := filepath.Join(tmp, "modules", "production", "host_core", "lib", "puppet", "type")
	for _, f := range []string{filepath.Join(own, "tidy.rb"), filepath.Join(mod, "host.rb")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := NewRunner(Config{TypeDirs: []string{own}, ModulePath: []string{filepath.Join(tmp, "modules", "$environment")}})
	if got := r.Unknown("production", []string{"Tidy", "Host", "Frobnicate"}); !reflect.DeepEqual(got, []string{"Frobnicate"}) {
		t.Errorf("unknown %v, want [Frobnicate]", got)
	}
	if got := r.Unknown("other", []string{"Host"}); !reflect.DeepEqual(got, []string{"Host"}) {
		t.Errorf("in another environment: unknown %v, want [Host]", got)
	}
	// An agent's pluginsynced lib folder.
	lib := filepath.Join(tmp, "lib")
	if err := os.MkdirAll(filepath.Join(lib, "puppet", "type"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib, "puppet", "type", "ini_setting.rb"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	synced := NewRunner(Config{TypeDirs: []string{own}, LibDir: lib})
	if got := synced.Unknown("production", []string{"Ini_setting", "Host"}); !reflect.DeepEqual(got, []string{"Host"}) {
		t.Errorf("with a libdir: unknown %v, want [Host]", got)
	}
	none := NewRunner(Config{TypeDirs: []string{filepath.Join(tmp, "absent")}})
	if got := none.Unknown("production", []string{"Frobnicate"}); got != nil {
		t.Errorf("without Puppet's types: unknown %v, want nothing checked", got)
	}
}

// TestReadReport reads a report written by real Puppet (fixtures/failure).
func TestReadReport(t *testing.T) {
	f, err := os.Open("../fixtures/failure/puppet-report.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := readReport(f)
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Statuses["Exec[fail]"]
	if st == nil || !st.Failed || st.path() != "/Stage[main]/Failure::Broken/Exec[fail]" {
		t.Fatalf("Exec[fail]: %+v", st)
	}
	if len(st.Events) != 1 || st.Events[0].Status != "failure" || st.Events[0].Property != "returns" {
		t.Errorf("Exec[fail] events %+v", st.Events)
	}
	err = failureError(st, "")
	if want := "change from 'notrun' to ['0'] failed: '/bin/false' returned 1 instead of one of [0]"; err.Error() != want {
		t.Errorf("failure %q, want %q", err, want)
	}
	if len(rep.Logs) == 0 || rep.Logs[0].Source == "" {
		t.Errorf("logs %+v", rep.Logs)
	}
}

func TestOwner(t *testing.T) {
	a, b := &request{}, &request{}
	byPath := map[string]*request{"/Stage[main]/Main/Host[a]": a, "/Stage[main]/Main/Host[a/b]": b}
	for source, want := range map[string]*request{
		"/Stage[main]/Main/Host[a]":          a,
		"/Stage[main]/Main/Host[a]/ensure":   a,
		"/Stage[main]/Main/Host[a/b]/ensure": b,
		"/Stage[main]/Main/File[/tmp/x]":     nil,
	} {
		if got := owner(byPath, source); got != want {
			t.Errorf("owner(%q) wrong", source)
		}
	}
}

// A File run by Puppet gets its puppet:/// sources as local files, from the module
// path and an agent's copies of its server's mounts: puppet apply --catalog has no
// file server.
func TestLocalSources(t *testing.T) {
	mods := t.TempDir()
	file := filepath.Join(mods, "m", "files", "f")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An agent's copy of its server's mount "site".
	mounts := filepath.Join(t.TempDir(), ".mounts")
	motd := filepath.Join(mounts, "site", "motd")
	if err := os.MkdirAll(filepath.Dir(motd), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(motd, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in, want any
		ok       bool
	}{
		{"puppet:///modules/m/f", file, true},
		{"puppet:///modules/m/missing", "puppet:///modules/m/missing", false},
		{"/etc/x", "/etc/x", false},
		{[]any{"puppet:///modules/m/missing", "puppet:///modules/m/f"}, []any{"puppet:///modules/m/missing", file}, true},
		{"puppet:///site/motd", motd, true},
		{"puppet:///site/missing", "puppet:///site/missing", false},
		{"puppet:///site/../site/motd", "puppet:///site/../site/motd", false}, // Puppet's file server refuses ..
		{[]any{"https://example.invalid/motd", "puppet:///site/motd"}, []any{"https://example.invalid/motd", motd}, true},
	} {
		got, ok := localSources(tc.in, &resources.ModuleRoots{Dirs: []string{mods}, Mounts: mounts})
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("localSources(%v) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// A Resources purge sees the catalog's resources of its type, in noop, so that it
// purges only what the catalog does not declare; one in the batch itself is there
// once, as itself.
func TestCompanions(t *testing.T) {
	head := &catalog.Catalog{Name: "n.example", Version: "7", CatalogFormat: 2, Environment: "production"}
	purge := &catalog.Resource{Type: "Resources", Title: "user", Kind: "compilable_type", Parameters: map[string]any{"purge": true}}
	alice := &catalog.Resource{Type: "User", Title: "alice", Kind: "compilable_type", Parameters: map[string]any{"uid": 2001}}
	bob := &catalog.Resource{Type: "User", Title: "bob", Kind: "compilable_type"}
	r := NewRunner(Config{})
	p := r.Resource(head, purge, nil)
	p.SetCompanions([]*catalog.Resource{alice, bob})
	data, err := subCatalog(head, []*request{{res: p, apply: true}, {res: r.Resource(head, bob, nil), apply: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got jsonCatalog
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, res := range got.Resources {
		refs = append(refs, fmt.Sprintf("%s[%s] noop=%v", res.Type, res.Title, res.Parameters["noop"]))
	}
	want := []string{"Resources[user] noop=<nil>", "User[alice] noop=true", "User[bob] noop=<nil>"}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("resources %q, want %q", refs, want)
	}
}

func TestBeforeReport(t *testing.T) {
	console := strings.Join([]string{
		"Warning: Passing port to firewall is deprecated and will be removed. Use dport and/or sport instead.",
		"Warning: Facter: could not resolve a fact",
		"Error: Could not prefetch firewall provider 'iptables': Command iptables_save is missing",
		"Warning: /Stage[main]/Main/Firewall[100 x]: Skipping because provider prefetch failed",
		"Warning: Passing port to firewall is deprecated and will be removed. Use dport and/or sport instead.",
		"Notice: Applied catalog in 0.06 seconds",
		"/usr/lib/ruby/vendor_ruby/x.rb:1: warning: constant redefined",
	}, "\n")
	logs := []logLine{
		{Level: "err", Source: "Puppet", Message: "Could not prefetch firewall provider 'iptables': Command iptables_save is missing"},
		{Level: "warning", Source: "/Stage[main]/Main/Firewall[100 x]", Message: "Skipping because provider prefetch failed"},
		{Level: "notice", Source: "Puppet", Message: "Applied catalog in 0.06 seconds"},
	}
	got := beforeReport(console, logs)
	want := []logLine{
		{Level: "warning", Source: "Puppet", Message: "Passing port to firewall is deprecated and will be removed. Use dport and/or sport instead."},
		{Level: "warning", Source: "Puppet", Message: "Passing port to firewall is deprecated and will be removed. Use dport and/or sport instead."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("beforeReport = %+v, want %+v", got, want)
	}
}
