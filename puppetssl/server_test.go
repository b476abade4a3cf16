package puppetssl

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copySSL copies an ssldir, so that a test may change its CRL.
func copySSL(t *testing.T, d Dir) Dir {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "ssl")
	err := filepath.Walk(d.Path, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.Path, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return Dir{Path: dst, Certname: d.Certname}
}

// listen serves TLS with s on loopback; each connection is answered "ok".
func listen(t *testing.T, s *Server) string {
	t.Helper()
	tc, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if err := c.(*tls.Conn).Handshake(); err == nil {
					_, _ = io.WriteString(c, "ok")
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// sessions are the clients' TLS session caches, one per client identity.
var sessions = map[string]tls.ClientSessionCache{}

// dial connects as the client of ssldir d named name ("" presents no
// certificate) and returns what the server said, or the error.
func dial(t *testing.T, addr string, d Dir, name string) (string, error) {
	t.Helper()
	tr, err := LoadTrust(site.CA(), site.CRL(), Off)
	if err != nil {
		t.Fatal(err)
	}
	// Sessions are resumed where they can be: a revocation must hold on a
	// resumed session too.
	id := d.Path + "/" + name
	if sessions[id] == nil {
		sessions[id] = tls.NewLRUClientSessionCache(4)
	}
	tc := &tls.Config{RootCAs: tr.Pool(), ServerName: "127.0.0.1", ClientSessionCache: sessions[id]}
	if name != "" {
		c := Dir{Path: d.Path, Certname: name}
		pair, err := tls.LoadX509KeyPair(c.Cert(), c.Key())
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tc)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(conn)
	return string(b), err
}

func TestServerRequiresACertificateOfTheCA(t *testing.T) {
	d := copySSL(t, site)
	var logged []string
	s, err := NewServer(d, Chain, func(f string, a ...any) { logged = append(logged, f) })
	if err != nil {
		t.Fatal(err)
	}
	addr := listen(t, s)
	cases := []struct {
		name   string
		client Dir
		cert   string
		ok     bool
	}{
		{"a node of the site", site, "compiler.example", true},
		{"no certificate", site, "", false},
		{"a certificate of another CA", other, "compiler.example", false},
		{"a revoked certificate", site, "revoked.example", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := dial(t, addr, c.client, c.cert)
			if c.ok && (err != nil || got != "ok") {
				t.Fatalf("refused: %q, %v", got, err)
			}
			if !c.ok && got == "ok" {
				t.Fatal("accepted")
			}
		})
	}

	// The CA revokes node1.example: the CRL reaches the ssldir, and the server
	// refuses the certificate from then on, without a restart.
	if got, err := dial(t, addr, site, "node1.example"); err != nil || got != "ok" {
		t.Fatalf("node1.example before its revocation: %q, %v", got, err)
	}
	inter, _ := caCerts(t)
	_, rootCRL := crlBlocks(t)
	now := time.Now()
	revoked := signCRL(t, inter, key(t, "testdata/site/ca/ca_key.pem"), now.Add(-time.Second), now.Add(time.Hour),
		cert(t, site, "node1.example").SerialNumber, cert(t, site, "revoked.example").SerialNumber)
	replace(t, d.CRL(), append(revoked, rootCRL...))
	if got, err := dial(t, addr, site, "node1.example"); got == "ok" {
		t.Fatalf("node1.example after its revocation: accepted (%v)", err)
	}
	if got, err := dial(t, addr, site, "compiler.example"); err != nil || got != "ok" {
		t.Fatalf("compiler.example after node1's revocation: %q, %v", got, err)
	}

	// A CRL that cannot be read leaves the one before in force, and says so.
	replace(t, d.CRL(), []byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"))
	if got, _ := dial(t, addr, site, "node1.example"); got == "ok" {
		t.Fatal("node1.example accepted after a broken CRL replaced the one that revokes it")
	}
	if got, err := dial(t, addr, site, "compiler.example"); err != nil || got != "ok" {
		t.Fatalf("compiler.example after a broken CRL: %q, %v", got, err)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "stays in force") {
		t.Errorf("logged %q, want one line saying the CRL before stays in force", logged)
	}
}

// replace writes data over file as a CA's tools do: a new file renamed over it, a
// second later than the old one (file systems with coarse times).
func replace(t *testing.T, file string, data []byte) {
	t.Helper()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	later := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(tmp, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// TestClientVerifiesTheServer: a client checks the server's certificate against
// the CA bundle and the CRLs, and presents its own.
func TestClientVerifiesTheServer(t *testing.T) {
	c, err := NewClient(Dir{Path: site.Path, Certname: "compiler.example"}, Chain, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		server     Dir
		serverName string
		want       string // "" passes; else a part of the error
	}{
		{"the site's server", Dir{Path: site.Path, Certname: "server"}, "127.0.0.1", ""},
		{"a server of another CA", Dir{Path: other.Path, Certname: "server"}, "127.0.0.1", "signed by unknown authority"},
		{"a revoked server", Dir{Path: site.Path, Certname: "revoked.example"}, "revoked.example", `"revoked.example" (serial 4) is revoked`},
		{"a server of another name", Dir{Path: site.Path, Certname: "node1.example"}, "localhost", "not localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := NewServer(tc.server, Off, nil)
			if err != nil {
				t.Fatal(err)
			}
			addr := listen(t, srv)
			cc, err := c.Config()
			if err != nil {
				t.Fatal(err)
			}
			cc.ServerName = tc.serverName
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cc)
			if err == nil {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				var b []byte
				b, err = io.ReadAll(conn)
				if err == nil && string(b) != "ok" {
					err = io.ErrUnexpectedEOF
				}
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}
