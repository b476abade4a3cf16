package puppetdb

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
)

func embeddedStore(t *testing.T) exported.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := exported.Embedded(ctx, exported.EmbeddedConfig{DataDir: t.TempDir(), ClientURL: freeURL(t), PeerURL: freeURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e.Store()
}

// TestRelay puts the relay in front of a primary (this package's own server on
// its own etcd, standing in for PuppetDB; integration/sidebyside_test.go uses the
// real one): answers are the primary's, accepted commands reach both stores,
// refused ones neither, and the compiler's collector queries are recorded.
func TestRelay(t *testing.T) {
	primaryStore, relayStore := embeddedStore(t), embeddedStore(t)
	primary := httptest.NewServer(Handler(primaryStore, nil))
	t.Cleanup(primary.Close)
	pu, _ := url.Parse(primary.URL)
	relay := httptest.NewServer(Relay(relayStore, pu, http.DefaultTransport, log.New(io.Discard, "", 0)))
	t.Cleanup(relay.Close)
	ctx := context.Background()

	catalog := `{"certname":"a.example","environment":"production","resources":[
		{"type":"File","title":"/x","tags":["shared"],"exported":true,"parameters":{"ensure":"file"}}]}`
	for _, c := range []struct {
		name, method, path, body string
		code                     int
		inBody                   string
	}{
		{"a command", "POST", "/pdb/cmd/v1?command=replace_catalog&version=9&certname=a.example", catalog, 200, `"uuid"`},
		{"a command the primary refuses", "POST", "/pdb/cmd/v1?command=replace_catalog&version=9", `{"certname":"b/c"}`, 400, "certname"},
		{"a collector query", "GET", "/pdb/query/v4/resources?query=" + url.QueryEscape(
			`["and",["=","type","File"],["=","exported",true],["not",["=","certname","b.example"]],["=","tag","shared"]]`),
			"", 200, `"title":"/x"`},
		{"the version", "GET", "/pdb/meta/v1/version", "", 200, "7.12.1"},
		{"PuppetDB's admin API", "POST", "/pdb/admin/v1/cmd", `{"command":"delete","version":1,"payload":{"certname":"a.example"}}`, 404, "not relayed"},
		{"an archive export", "GET", "/pdb/admin/v1/archive", "", 404, "not relayed"},
	} {
		code, body := call(t, c.method, relay.URL+c.path, c.body)
		if code != c.code || !strings.Contains(body, c.inBody) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, code, body, c.code, c.inBody)
		}
	}
	all, _ := exported.ParseQuery(nil)
	for name, st := range map[string]exported.Store{"primary": primaryStore, "relay": relayStore} {
		rs, err := st.Resources(ctx, all)
		if err != nil || len(rs) != 1 || rs[0].Title != "/x" {
			t.Errorf("%s's store: %v, %v; want a.example's export only", name, rs, err)
		}
	}
	if qs, err := relayStore.Collectors(ctx, "b.example"); err != nil || len(qs) != 1 {
		t.Errorf("b.example's collectors in the relay's store: %v, %v; want its query", qs, err)
	}

	primary.Close()
	code, body := call(t, "POST", relay.URL+"/pdb/cmd/v1?command=replace_catalog&version=9",
		strings.Replace(catalog, "a.example", "d.example", 1))
	if code != http.StatusBadGateway || !strings.Contains(body, "the primary PuppetDB") {
		t.Errorf("with the primary gone: %d %s, want 502 naming the primary", code, body)
	}
	if rs, _ := relayStore.Resources(ctx, all); len(rs) != 1 {
		t.Errorf("a command the primary never took was stored: %v", rs)
	}
}
