package integration

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// requirePuppetCA skips without Puppet's CA code (the `puppetserver ca` tool),
// except in CI, where it fails.
func requirePuppetCA(t testing.TB) {
	t.Helper()
	if err := exec.Command("ruby", "-e", `require "puppetserver/ca/cli"`).Run(); err != nil {
		testenv.Missing(t, "Puppet's CA code is missing (apt-get install ruby-puppetserver-ca-cli): %v", err)
	}
}

// puppetCA runs scripts/puppet-ca.sh: Puppet's own CA code on dir.
func puppetCA(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(moduleRoot(t), "scripts", "puppet-ca.sh"), args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("puppet-ca.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// pdbClient is an HTTPS client of the API presenting name's certificate from
// ssldir, "" for none.
func pdbClient(t testing.TB, caFile, ssldir, name string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := &tls.Config{RootCAs: pool}
	if name != "" {
		pair, err := tls.LoadX509KeyPair(filepath.Join(ssldir, "certs", name+".pem"), filepath.Join(ssldir, "private_keys", name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

// TestPuppetDBServesOnlyAllowedCertificates: `mgmt-puppet puppetdb` with a CA
// made by Puppet's own CA code and an allowlist of the compiler. A client with no
// certificate, one of another CA, a revoked one, or one off the allowlist is
// refused, and the File it tries to export into every node that collects is in
// no catalog the real Puppet compiler makes afterwards; the compiler, checking
// the server against the CRL itself, exports and collects as before. A
// certificate revoked while the server runs is refused from then on.
func TestPuppetDBServesOnlyAllowedCertificates(t *testing.T) {
	requirePuppet(t)
	requireFile(t, "/usr/lib/ruby/vendor_ruby/puppet/indirector/resource/puppetdb.rb", "puppet-terminus-puppetdb")
	requirePuppetCA(t)
	dir := t.TempDir()
	site, other := filepath.Join(dir, "site"), filepath.Join(dir, "other")
	puppetCA(t, "setup", site, "server")
	puppetCA(t, "generate", site, "compiler.example", "node1.example", "revoked.example")
	puppetCA(t, "revoke", site, "revoked.example")
	puppetCA(t, "setup", other, "server")
	puppetCA(t, "generate", other, "compiler.example")
	ssldir, caFile := filepath.Join(site, "ssl"), filepath.Join(site, "ssl", "certs", "ca.pem")
	allow := filepath.Join(dir, "allowlist")
	if err := os.WriteFile(allow, []byte("compiler.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startPuppetDB(t, ssldir, "http://"+freeAddr(t), "--certificate-allowlist", allow)
	base := "https://" + s.addr

	evil := `{"certname":"intruder.example","environment":"production","producer_timestamp":"2026-12-01T00:00:00.000Z",` +
		`"resources":[{"type":"File","title":"` + placeholder + `/exported/collected/evil","tags":["seed","file"],` +
		`"exported":true,"parameters":{"ensure":"file","content":"owned\n"}}]}`
	intrude := func(c *http.Client) (int, string, error) {
		resp, err := c.Post(base+"/pdb/cmd/v1?command=replace_catalog&version=9&certname=intruder.example",
			"application/json", strings.NewReader(evil))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	for _, c := range []struct {
		name   string
		client *http.Client
		code   int // 0: the TLS handshake fails
	}{
		{"no certificate", pdbClient(t, caFile, ssldir, ""), 0},
		{"a certificate of another CA", pdbClient(t, caFile, filepath.Join(other, "ssl"), "compiler.example"), 0},
		{"a revoked certificate", pdbClient(t, caFile, ssldir, "revoked.example"), 0},
		{"a certificate off the allowlist", pdbClient(t, caFile, ssldir, "node1.example"), 403},
	} {
		code, body, err := intrude(c.client)
		if c.code == 0 && err == nil || c.code != 0 && code != c.code {
			t.Errorf("%s: answered %d %q (%v), want %d (0: no handshake)", c.name, code, body, err, c.code)
		}
	}

	pc := newCompiler(t, ssldir, s.addr, filepath.Join(moduleRoot(t), "fixtures", "exported", "site.pp"))
	pc.revocation = "chain"
	pc.compile("nodea.example")
	got := strings.Join(files(t, pc.compile("nodeb.example")), "\n")
	if strings.Contains(got, "evil") || !strings.Contains(got, "collected/from-a-1") {
		t.Fatalf("nodeb.example's files:\n%s\nwant a's exports and no intruder's", got)
	}

	// node1.example added to the allowlist may use the API; revoked at the CA, the
	// new CRL in the ssldir, it may not, and the compiler still may.
	if err := os.WriteFile(allow, []byte("compiler.example\nnode1.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(allow, later, later)
	version := func(name string) error {
		resp, err := pdbClient(t, caFile, ssldir, name).Get(base + "/pdb/query/v4/resources?query=" +
			url.QueryEscape(`["=","type","File"]`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return &url.Error{Op: "GET", URL: base, Err: io.ErrUnexpectedEOF}
		}
		return nil
	}
	if err := version("node1.example"); err != nil {
		t.Fatalf("node1.example on the allowlist: %v", err)
	}
	puppetCA(t, "revoke", site, "node1.example")
	if err := version("node1.example"); err == nil {
		t.Fatal("node1.example answered after its revocation")
	}
	if err := version("compiler.example"); err != nil {
		t.Fatalf("compiler.example after node1's revocation: %v", err)
	}
	pc.compile("nodea.example")
	if out := s.out.String(); !strings.Contains(out, `"node1.example"`) || !strings.Contains(out, "is revoked") {
		t.Errorf("the server's log does not name the revoked certificate:\n%s", out)
	}
}

// TestPlaintextOnlyOnLoopback: the plain-HTTP listener and the embedded etcd
// refuse to serve without TLS beyond loopback, before anything starts, unless
// --etcd-allow-plaintext says so.
func TestPlaintextOnlyOnLoopback(t *testing.T) {
	ssldir := filepath.Join(t.TempDir(), "ssl")
	writePuppetSSL(t, ssldir, "server")
	port := freeAddr(t)[len("127.0.0.1"):]
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"plain HTTP on every interface", []string{"--http-listen", "0.0.0.0" + port},
			"--http-listen 0.0.0.0" + port + ": plain HTTP is served on loopback only"},
		{"plain HTTP on a name", []string{"--http-listen", "example.invalid" + port}, "plain HTTP is served on loopback only"},
		{"etcd clients on every interface", []string{"--etcd-client-url", "http://0.0.0.0" + port},
			"etcd client URL http://0.0.0.0" + port + ": not on loopback and without TLS"},
		{"etcd peers on every interface", []string{"--etcd-peer-url", "http://0.0.0.0" + port},
			"etcd peer URL http://0.0.0.0" + port + ": not on loopback and without TLS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"puppetdb", "--listen", freeAddr(t), "--ssldir", ssldir, "--certname", "server",
				"--etcd-data-dir", filepath.Join(t.TempDir(), "etcd")}, c.args...)
			cmd := exec.Command(binary(t), args...)
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("still running after 30 s:\n%s", out)
			}
			if err == nil || !strings.Contains(string(out), c.want) || strings.Contains(string(out), "PuppetDB API on") {
				t.Fatalf("%v\n%s\nwant a refusal with %q", err, out, c.want)
			}
		})
	}
	s := startPuppetDB(t, ssldir, "http://0.0.0.0"+port, "--etcd-allow-plaintext")
	if !strings.Contains(s.out.String(), "PuppetDB API on") {
		t.Fatalf("with --etcd-allow-plaintext:\n%s", s.out.String())
	}
}
