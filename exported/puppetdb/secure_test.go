package puppetdb

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
	"github.com/mgmt-puppet/mgmt-puppet/puppetssl"
)

// The certificates come from Puppet's own CA code (puppetssl/testdata/generate.sh).
const (
	siteSSL  = "../../puppetssl/testdata/site/ssl"
	otherSSL = "../../puppetssl/testdata/other/ssl"
)

// client is an HTTPS client presenting name's certificate from ssldir ("" none).
func client(t *testing.T, ssldir, name string) *http.Client {
	t.Helper()
	tr, err := puppetssl.LoadTrust(puppetssl.Dir{Path: siteSSL}.CA(), "", puppetssl.Off)
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{RootCAs: tr.Pool()}
	if name != "" {
		d := puppetssl.Dir{Path: ssldir, Certname: name}
		pair, err := tls.LoadX509KeyPair(d.Cert(), d.Key())
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

// TestRefusedClientsStoreNothing serves the API as `mgmt-puppet puppetdb` does,
// over a real embedded etcd: a client without a certificate, with one of another
// CA, with a revoked one, or off the allowlist, is refused, and what it sent is
// not stored; an allowed client's command is.
func TestRefusedClientsStoreNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := exported.Embedded(ctx, exported.EmbeddedConfig{DataDir: t.TempDir(), ClientURL: freeURL(t), PeerURL: freeURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	allow := filepath.Join(t.TempDir(), "allowlist")
	if err := os.WriteFile(allow, []byte("server\n  compiler.example  \n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logged []string
	list, err := LoadAllowlist(allow, func(f string, a ...any) { logged = append(logged, f) })
	if err != nil {
		t.Fatal(err)
	}
	ssl, err := puppetssl.NewServer(puppetssl.Dir{Path: siteSSL, Certname: "server"}, puppetssl.Chain, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := ssl.Config()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(list.Wrap(Handler(e.Store(), nil)))
	srv.TLS = tc
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	catalog := func(node string) string {
		return `{"certname":"` + node + `","environment":"production","resources":[{"type":"File","title":"/from/` + node +
			`","tags":["shared"],"exported":true,"parameters":{"ensure":"file"}}]}`
	}
	post := func(c *http.Client, node string) (int, string, error) {
		resp, err := c.Post(base+"/pdb/cmd/v1?command=replace_catalog&version=9&certname="+node, "application/json",
			strings.NewReader(catalog(node)))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String(), nil
	}
	stored := func() string {
		resp, err := client(t, siteSSL, "compiler.example").Get(base + "/pdb/query/v4/resources?query=" +
			url.QueryEscape(`["=","type","File"]`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return b.String()
	}

	for _, c := range []struct {
		name, ssldir, cert string
		code               int    // 0: the TLS handshake fails
		body               string // part of the answer
	}{
		{"no certificate", siteSSL, "", 0, ""},
		{"a certificate of another CA", otherSSL, "compiler.example", 0, ""},
		{"a revoked certificate", siteSSL, "revoked.example", 0, ""},
		{"off the allowlist", siteSSL, "node1.example", 403,
			"Permission denied: The client certificate name node1.example doesn't appear in the certificate allowlist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body, err := post(client(t, c.ssldir, c.cert), "intruder.example")
			switch {
			case c.code == 0 && err == nil:
				t.Fatalf("answered %d %s, want the handshake refused", code, body)
			case c.code != 0 && (code != c.code || !strings.Contains(body, c.body)):
				t.Fatalf("answered %d %q (%v), want %d with %q", code, body, err, c.code, c.body)
			}
			if got := stored(); strings.TrimSpace(got) != "[]" {
				t.Fatalf("stored after the refusal: %s", got)
			}
		})
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "rejected by certificate allowlist") {
		t.Errorf("logged %q, want the allowlist's refusal", logged)
	}

	code, body, err := post(client(t, siteSSL, "compiler.example"), "a.example")
	if err != nil || code != 200 {
		t.Fatalf("the allowed compiler: %d %s %v", code, body, err)
	}
	if got := stored(); !strings.Contains(got, `"title":"/from/a.example"`) || strings.Contains(got, "intruder") {
		t.Fatalf("stored %s, want a.example's export only", got)
	}

	// The allowlist is read again when it changes: node1.example added, it may.
	later := time.Now().Add(2 * time.Second)
	if err := os.WriteFile(allow, []byte("compiler.example\nnode1.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(allow, later, later)
	if code, body, err := post(client(t, siteSSL, "node1.example"), "b.example"); err != nil || code != 200 {
		t.Fatalf("node1.example once on the allowlist: %d %s %v", code, body, err)
	}
	// Gone, it refuses everyone.
	if err := os.Remove(allow); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := post(client(t, siteSSL, "compiler.example"), "c.example"); code != 403 {
		t.Fatalf("compiler.example with the allowlist gone: %d, want 403", code)
	}
}
