package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
	"github.com/mgmt-puppet/mgmt-puppet/internal/testport"
)

// writePuppetSSL makes a CA and, signed by it, one certificate per name, laid out
// as Puppet's ssldir: certs/ca.pem, crl.pem (nothing revoked), certs/NAME.pem,
// private_keys/NAME.pem. The
// name "server" gets 127.0.0.1 as an IP SAN.
func writePuppetSSL(t testing.TB, ssldir string, names ...string) {
	t.Helper()
	for _, d := range []string{"certs", "private_keys"} {
		if err := os.MkdirAll(filepath.Join(ssldir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mgmt-puppet test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	writePEM(t, filepath.Join(ssldir, "certs", "ca.pem"), "CERTIFICATE", caDER)
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(24 * time.Hour)}, caCert, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(ssldir, "crl.pem"), "X509 CRL", crlDER)
	for i, name := range names {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{name},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		if name == "server" {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(ssldir, "certs", name+".pem"), "CERTIFICATE", der)
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(ssldir, "private_keys", name+".pem"), "PRIVATE KEY", keyDER)
	}
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	return testport.Addr(t)
}

// pdbServer is `mgmt-puppet puppetdb` with an embedded etcd in a temp dir, on fixed
// loopback ports, so that it can be killed and started again on the same data.
type pdbServer struct {
	t                          testing.TB
	ssldir, addr, etcdURL, dir string
	peerURL                    string
	extra                      []string // more flags
	cmd                        *exec.Cmd
	out                        *lockedBuffer
}

// puppetDBServer starts a server; it is stopped by SIGTERM at the end of the test.
// It returns the HTTPS address.
func puppetDBServer(t testing.TB, ssldir string) string {
	t.Helper()
	return startPuppetDB(t, ssldir, "http://"+freeAddr(t)).addr
}

// startPuppetDB starts a server whose embedded etcd serves clients at etcdURL.
func startPuppetDB(t testing.TB, ssldir, etcdURL string, extra ...string) *pdbServer {
	t.Helper()
	peer := "http://" + freeAddr(t)
	if strings.HasPrefix(etcdURL, "https:") {
		peer = "https://" + freeAddr(t)
	}
	s := &pdbServer{t: t, ssldir: ssldir, addr: freeAddr(t), etcdURL: etcdURL, dir: filepath.Join(t.TempDir(), "etcd"),
		peerURL: peer, extra: extra}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *pdbServer) start() {
	s.t.Helper()
	s.startAsync()
	s.waitStarted()
}

// startAsync starts the process without waiting for it to serve.
func (s *pdbServer) startAsync() {
	s.cmd = exec.Command(binary(s.t), append([]string{"puppetdb", "--listen", s.addr, "--ssldir", s.ssldir,
		"--certname", "server", "--etcd-data-dir", s.dir, "--etcd-client-url", s.etcdURL, "--etcd-peer-url", s.peerURL},
		s.extra...)...)
	s.out = &lockedBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		s.t.Error(err)
	}
}

func (s *pdbServer) waitStarted() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(s.out.String(), "PuppetDB API on") {
		if time.Now().After(deadline) || s.cmd.ProcessState != nil {
			s.t.Fatalf("puppetdb server did not start within 60 s:\n%s", s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the server (and its etcd member) at once, as a crash would.
func (s *pdbServer) kill() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

func (s *pdbServer) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		s.t.Errorf("puppetdb server: no exit within 15 s of SIGTERM\n%s", s.out.String())
	}
}

// compiler compiles nodes of a manifest with real Puppet, storeconfigs on and the
// stock puppetdb terminus pointed at a server, as a Puppet server would.
type compiler struct {
	t        testing.TB
	dir      string
	manifest string
	// revocation is Puppet's certificate_revocation ("false" unless set): the
	// ssldirs of writePuppetSSL have a CRL of the CA only.
	revocation string
}

func newCompiler(t testing.TB, ssldir, addr, manifest string) *compiler {
	return newCompilerConf(t, ssldir, "[main]\nserver_urls = https://"+addr+"\nsoft_write_failure = false\n", manifest)
}

// newCompilerConf is a compiler with puppetdb.conf pdbConf.
func newCompilerConf(t testing.TB, ssldir, pdbConf, manifest string) *compiler {
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "puppetdb.conf"), []byte(pdbConf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ssldir, filepath.Join(dir, "ssl")); err != nil {
		t.Fatal(err)
	}
	return &compiler{t: t, dir: dir, manifest: manifest, revocation: "false"}
}

// compile returns node's catalog, as JSON.
func (c *compiler) compile(node string) []byte {
	c.t.Helper()
	out, err := c.tryCompile(node)
	if err != nil {
		c.t.Fatalf("compiling %s: %v\n%s", node, err, out)
	}
	if i := strings.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	return []byte(out)
}

// tryCompile compiles node and returns the catalog, or with an error what Puppet said.
func (c *compiler) tryCompile(node string) (string, error) {
	cmd := exec.Command("puppet", "catalog", "find", node, "--terminus", "compiler", "--render-as", "json",
		"--manifest", c.manifest, "--confdir", filepath.Join(c.dir, "conf"), "--vardir", filepath.Join(c.dir, "var"),
		"--codedir", filepath.Join(c.dir, "code"), "--ssldir", filepath.Join(c.dir, "ssl"),
		"--certname", "compiler.example", "--storeconfigs", "--storeconfigs_backend=puppetdb",
		"--certificate_revocation="+c.revocation, "--log_level", "warning", "--color", "false")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return stderr.String() + string(out), err
	}
	return string(out), nil
}

// files lists a catalog's File titles, sorted, marked "(exported)" when so.
func files(t testing.TB, catalog []byte) []string {
	t.Helper()
	var c struct {
		Resources []struct {
			Type, Title string
			Exported    bool
		}
	}
	if err := json.Unmarshal(catalog, &c); err != nil {
		t.Fatalf("%v\n%s", err, catalog)
	}
	var out []string
	for _, r := range c.Resources {
		if r.Type == "File" {
			s := strings.TrimPrefix(strings.TrimPrefix(r.Title, placeholder+"/exported"), "/")
			if r.Exported {
				s += " (exported)"
			}
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// TestPuppetCompilerExportsIntoEtcd has the stock Puppet compiler, with the stock
// puppetdb terminus, export into and collect from `mgmt-puppet puppetdb` (etcd
// underneath) for the three nodes of fixtures/exported: compiled A, B, C, then A
// and B again, every node has all six exported files; after `puppet node
// deactivate` of C, C's exports are gone from A's next catalog.
func TestPuppetCompilerExportsIntoEtcd(t *testing.T) {
	requirePuppet(t)
	requireFile(t, "/usr/lib/ruby/vendor_ruby/puppet/indirector/resource/puppetdb.rb", "puppet-terminus-puppetdb")
	ssldir := filepath.Join(t.TempDir(), "ssl")
	writePuppetSSL(t, ssldir, "server", "compiler.example")
	addr := puppetDBServer(t, ssldir)
	pc := newCompiler(t, ssldir, addr, filepath.Join(moduleRoot(t), "fixtures", "exported", "site.pp"))

	all := []string{"collected", "collected/from-a-1", "collected/from-a-2", "collected/from-b-1", "collected/from-b-2",
		"collected/from-c-1", "collected/from-c-2"}
	want := func(node string, others ...string) []string {
		w := []string{"", "local-" + node + "-1", "local-" + node + "-2"}
		for _, f := range all {
			switch {
			case f == "collected":
				w = append(w, f)
			case strings.Contains(f, "from-"+node+"-"):
				w = append(w, f+" (exported)")
			default:
				for _, o := range others {
					if strings.Contains(f, "from-"+o+"-") {
						w = append(w, f)
					}
				}
			}
		}
		sort.Strings(w)
		return w
	}
	check := func(node string, got []byte, others ...string) {
		t.Helper()
		if g, w := strings.Join(files(t, got), "\n"), strings.Join(want(node, others...), "\n"); g != w {
			t.Errorf("node%s's catalog files:\n%s\nwant:\n%s", node, g, w)
		}
	}
	check("a", pc.compile("nodea.example"))
	check("b", pc.compile("nodeb.example"), "a")
	check("c", pc.compile("nodec.example"), "a", "b")
	check("a", pc.compile("nodea.example"), "b", "c")
	check("b", pc.compile("nodeb.example"), "a", "c")

	deactivate := exec.Command("puppet", "node", "deactivate", "nodec.example", "--confdir", filepath.Join(pc.dir, "conf"),
		"--vardir", filepath.Join(pc.dir, "var"), "--ssldir", filepath.Join(pc.dir, "ssl"), "--certname", "compiler.example",
		"--certificate_revocation=false", "--color", "false")
	if out, err := deactivate.CombinedOutput(); err != nil {
		t.Fatalf("puppet node deactivate: %v\n%s", err, out)
	}
	check("a", pc.compile("nodea.example"), "b")
}

// requireFile skips without path, except in CI, where it fails.
func requireFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		testenv.Missing(t, "%s is missing (apt-get install %s)", path, pkg)
	}
}

// TestEmbeddedClusterSurvivesAMember runs three `mgmt-puppet puppetdb` servers
// whose embedded etcd members form one cluster (--etcd-seeds). Exports stored
// through one server are answered by another; with one member killed the other two
// keep the cluster (a majority) and take new exports; the member started again on
// its data catches up.
func TestEmbeddedClusterSurvivesAMember(t *testing.T) {
	requirePuppet(t)
	requireFile(t, "/usr/lib/ruby/vendor_ruby/puppet/indirector/resource/puppetdb.rb", "puppet-terminus-puppetdb")
	ssldir := filepath.Join(t.TempDir(), "ssl")
	writePuppetSSL(t, ssldir, "server", "compiler.example")
	names := []string{"m1", "m2", "m3"}
	var seeds []string
	servers := make([]*pdbServer, len(names))
	for i, name := range names {
		servers[i] = &pdbServer{t: t, ssldir: ssldir, addr: freeAddr(t), etcdURL: "http://" + freeAddr(t),
			dir: filepath.Join(t.TempDir(), "etcd"), peerURL: "http://" + freeAddr(t),
			extra: []string{"--etcd-name", name}}
		seeds = append(seeds, name+"="+servers[i].peerURL)
	}
	// The members wait for each other: start them together.
	done := make(chan struct{}, len(servers))
	for _, s := range servers {
		s.extra = append(s.extra, "--etcd-seeds", strings.Join(seeds, ","))
		go func(s *pdbServer) {
			defer func() { done <- struct{}{} }()
			s.startAsync()
		}(s)
	}
	for range servers {
		<-done
	}
	for _, s := range servers {
		s.waitStarted()
		t.Cleanup(s.stop)
	}
	manifest := filepath.Join(moduleRoot(t), "fixtures", "exported", "site.pp")
	via := func(i int) *compiler { return newCompiler(t, ssldir, servers[i].addr, manifest) }

	via(0).compile("nodea.example")
	if got := strings.Join(files(t, via(1).compile("nodeb.example")), " "); !strings.Contains(got, "collected/from-a-1 ") {
		t.Errorf("through m2, nodeb did not collect what nodea exported through m1: %s", got)
	}
	servers[2].kill()
	via(0).compile("nodec.example")
	if got := strings.Join(files(t, via(1).compile("nodea.example")), " "); !strings.Contains(got, "collected/from-c-1 ") {
		t.Errorf("with m3 down, nodea did not collect nodec's exports: %s", got)
	}
	servers[2].start()
	if got := strings.Join(files(t, via(2).compile("nodeb.example")), " "); !strings.Contains(got, "collected/from-c-2 ") ||
		!strings.Contains(got, "collected/from-a-2 ") {
		t.Errorf("through m3 started again, nodeb's catalog: %s", got)
	}
}

// TestDuplicateExportFailsLikePuppetDB: two nodes export the same File; the node
// that collects it gets the compiler's duplicate error, as with PuppetDB.
func TestDuplicateExportFailsLikePuppetDB(t *testing.T) {
	requirePuppet(t)
	requireFile(t, "/usr/lib/ruby/vendor_ruby/puppet/indirector/resource/puppetdb.rb", "puppet-terminus-puppetdb")
	ssldir := filepath.Join(t.TempDir(), "ssl")
	writePuppetSSL(t, ssldir, "server", "compiler.example")
	pc := newCompiler(t, ssldir, puppetDBServer(t, ssldir), filepath.Join(moduleRoot(t), "fixtures", "exported", "site.pp"))
	pc.compile("noded.example")
	pc.compile("nodee.example")
	out, err := pc.tryCompile("nodef.example")
	want := "A duplicate resource was found while collecting exported resources, with the type and title File[" + placeholder + "/exported/dup]"
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("compiling nodef: %v, output:\n%s\nwant the error %q", err, out, want)
	}
}

// TestRunServesPuppetDB: `mgmt-puppet run --puppetdb-listen` serves the API from
// its own embedded etcd while it keeps a catalog converged; the compiler exports
// into it and collects from it.
func TestRunServesPuppetDB(t *testing.T) {
	requirePuppet(t)
	requireFile(t, "/usr/lib/ruby/vendor_ruby/puppet/indirector/resource/puppetdb.rb", "puppet-terminus-puppetdb")
	ssldir := filepath.Join(t.TempDir(), "ssl")
	writePuppetSSL(t, ssldir, "server", "compiler.example")
	addr := freeAddr(t)
	root := t.TempDir()
	cmd := exec.Command(binary(t), "run", "--color", "false", "--converged-timeout", "-1",
		"--puppetdb-listen", addr, "--ssldir", ssldir, "--certname", "server",
		"--etcd-data-dir", filepath.Join(t.TempDir(), "etcd"), "--etcd-client-url", "http://"+freeAddr(t),
		"--etcd-peer-url", "http://"+freeAddr(t), fixtureCatalog(t, "basic", root))
	out := startProcess(t, cmd, 15*time.Second)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Applied catalog") {
		if time.Now().After(deadline) {
			t.Fatalf("no first pass within 60 s:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "PuppetDB API on https://"+addr) {
		t.Errorf("run does not say where the API is:\n%s", out.String())
	}
	pc := newCompiler(t, ssldir, addr, filepath.Join(moduleRoot(t), "fixtures", "exported", "site.pp"))
	pc.compile("nodea.example")
	if got := strings.Join(files(t, pc.compile("nodeb.example")), " "); !strings.Contains(got, "collected/from-a-1 ") {
		t.Errorf("nodeb did not collect nodea's exports through run's API: %s", got)
	}
}
