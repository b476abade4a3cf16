package integration

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// realPuppetDB is Debian's real PuppetDB 7.12.1 with its own PostgreSQL cluster,
// run by scripts/real-puppetdb.sh under a temp dir.
type realPuppetDB struct {
	dir         string
	http, https string // addresses
}

func freePort(t testing.TB) string {
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startRealPuppetDB starts it with certname's certificate from ssldir; it is
// stopped at the end of the test. Without the packages it skips, except in CI.
func startRealPuppetDB(t testing.TB, ssldir, certname string) *realPuppetDB {
	t.Helper()
	requireFile(t, "/usr/share/puppetdb/puppetdb.jar", "puppetdb")
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) == 0 {
		requireFile(t, "/usr/lib/postgresql/15/bin/initdb", "postgresql")
	}
	dir, err := os.MkdirTemp("", "real-puppetdb-")
	if err != nil {
		t.Fatal(err)
	}
	r := &realPuppetDB{dir: dir}
	http, https := freePort(t), freePort(t)
	r.http, r.https = "127.0.0.1:"+http, "127.0.0.1:"+https
	script := filepath.Join(moduleRoot(t), "scripts", "real-puppetdb.sh")
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("stopping the real PuppetDB: %v\n%s", err, out)
		}
		_ = os.RemoveAll(dir)
	})
	start := time.Now()
	cmd := exec.Command(script, "start", dir, ssldir, certname, freePort(t), http, https)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("starting the real PuppetDB: %v\n%s", err, out)
	}
	t.Logf("real PuppetDB 7.12.1 with PostgreSQL running after %v", time.Since(start).Round(time.Second))
	return r
}

// get asks the real PuppetDB over its plain-HTTP port (loopback).
func (r *realPuppetDB) get(t testing.TB, path string, query url.Values) (int, []byte) {
	t.Helper()
	u := "http://" + r.http + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// waitCatalog waits until the real PuppetDB has stored catalog (its commands are
// processed in the background), for at most a minute.
func (r *realPuppetDB) waitCatalog(t testing.TB, node string, catalog []byte) {
	t.Helper()
	var c struct {
		CatalogUUID string `json:"catalog_uuid"`
	}
	if err := json.Unmarshal(catalog, &c); err != nil || c.CatalogUUID == "" {
		t.Fatalf("%s's catalog has no catalog_uuid (%v)", node, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		code, body := r.get(t, "/pdb/query/v4/catalogs/"+url.PathEscape(node), nil)
		var got struct {
			CatalogUUID string `json:"catalog_uuid"`
		}
		if code == 200 && json.Unmarshal(body, &got) == nil && got.CatalogUUID == c.CatalogUUID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the real PuppetDB did not store %s's catalog %s within a minute: %d %s", node, c.CatalogUUID, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
