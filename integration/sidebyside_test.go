package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// exportsOf returns the exported resources of a PuppetDB API answer, in a form to
// compare: the fields both keep, tags sorted, the list sorted; hashes left out.
func exportsOf(t testing.TB, body []byte) string {
	t.Helper()
	var rs []struct {
		Certname    string         `json:"certname"`
		Type        string         `json:"type"`
		Title       string         `json:"title"`
		Tags        []string       `json:"tags"`
		Exported    bool           `json:"exported"`
		File        *string        `json:"file"`
		Line        *int           `json:"line"`
		Environment string         `json:"environment"`
		Parameters  map[string]any `json:"parameters"`
	}
	if err := json.Unmarshal(body, &rs); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	for _, r := range rs {
		sort.Strings(r.Tags)
	}
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		return a.Certname+"\x00"+a.Type+"\x00"+a.Title < b.Certname+"\x00"+b.Type+"\x00"+b.Title
	})
	out, err := json.MarshalIndent(rs, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestSideBySideWithRealPuppetDB is the set-up of docs/exported.md for a site that
// keeps its PuppetDB: Debian's real PuppetDB 7.12.1 (with PostgreSQL) stays the
// site's PuppetDB, and `mgmt-puppet puppetdb --primary` stands in front of it,
// first in puppetdb.conf's server_urls, the real one second. Every request goes on
// to the real PuppetDB, which answers it; accepted commands and the compiler's
// collector queries are kept in etcd too. The seed scenario compiled that way:
// the three running nodes collect every export live through mgmt-puppet's etcd;
// both hold the same exports; the compiler collects the same resources through
// either; and with mgmt-puppet stopped, the compiler fails over to the real
// PuppetDB and compiles as before.
func TestSideBySideWithRealPuppetDB(t *testing.T) {
	requirePuppet(t)
	requireFile(t, "/usr/lib/ruby/vendor_ruby/puppet/indirector/resource/puppetdb.rb", "puppet-terminus-puppetdb")
	requirePuppetCA(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is missing")
	}
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	puppetCA(t, "setup", site, "server")
	puppetCA(t, "generate", site, "compiler.example")
	ssldir := filepath.Join(site, "ssl")
	real := startRealPuppetDB(t, ssldir, "server")

	allow := filepath.Join(dir, "allowlist")
	if err := os.WriteFile(allow, []byte("compiler.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	etcdURL := "http://" + freeAddr(t)
	s := &seed{server: startPuppetDB(t, ssldir, etcdURL, "--certificate-allowlist", allow, "--primary", "https://"+real.https)}
	manifest := filepath.Join(moduleRoot(t), "fixtures", "exported", "site.pp")
	s.pc = newCompilerConf(t, ssldir, fmt.Sprintf("[main]\nserver_urls = https://%s,https://%s\nsoft_write_failure = false\n",
		s.server.addr, real.https), manifest)
	s.pc.revocation = "chain"
	// The real PuppetDB stores commands in the background: each node's catalog
	// is waited for, so that the next compile collects it as it would minutes later.
	s.startNodes(t, etcdURL, func(node string, catalog []byte) { real.waitCatalog(t, node, catalog) })
	s.waitFiles(t, 60*time.Second, func(name string) string { return seedFiles(name) })
	t.Logf("all three nodes complete %v after C started", time.Since(s.cStart).Round(time.Millisecond))

	query := url.Values{"query": {`["=","exported",true]`}}
	code, realBody := real.get(t, "/pdb/query/v4/resources", query)
	if code != 200 {
		t.Fatalf("real PuppetDB: %d %s", code, realBody)
	}
	resp, err := pdbClient(t, filepath.Join(ssldir, "certs", "ca.pem"), ssldir, "compiler.example").Get(
		"https://" + s.server.addr + "/pdb/query/v4/resources?" + query.Encode())
	if err != nil {
		t.Fatal(err)
	}
	mgmtBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if r, m := exportsOf(t, realBody), exportsOf(t, mgmtBody); r != m {
		t.Errorf("exports in the real PuppetDB:\n%s\nin mgmt-puppet:\n%s", r, m)
	} else if n := strings.Count(r, `"certname"`); n != 6 {
		t.Errorf("%d exports in both, want 6:\n%s", n, r)
	}

	// The compiler collects the same through the real PuppetDB alone (mgmt-puppet
	// stopped: the terminus fails over to it) as through the relay.
	viaRelay := map[string]string{}
	for _, n := range []string{"nodea.example", "nodeb.example", "nodec.example"} {
		viaRelay[n] = strings.Join(files(t, s.pc.compile(n)), "\n")
	}
	s.server.stop()
	for _, n := range []string{"nodea.example", "nodeb.example", "nodec.example"} {
		if viaReal := strings.Join(files(t, s.pc.compile(n)), "\n"); viaReal != viaRelay[n] {
			t.Errorf("%s collects through the relay:\n%s\nthrough the real PuppetDB alone:\n%s", n, viaRelay[n], viaReal)
		}
	}
}
