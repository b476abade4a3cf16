package exported

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// site is certificate material made by Puppet's own CA code.
const site = "../puppetssl/testdata/site"

func httpsURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "https://" + ln.Addr().String()
}

// put tries a write as name's certificate; nil when etcd took it.
func put(t *testing.T, endpoint, name string) error {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(site, "ssl/certs", name+".pem"), filepath.Join(site, "ssl/private_keys", name+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(site, "ssl/certs/ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 3 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool}})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = cli.Put(ctx, "/probe/"+name, "x")
	return err
}

// TestEmbeddedRefusesRevokedCertificates: an embedded member serving TLS with
// Puppet's crl.pem refuses clients whose certificate the CA revoked, and follows
// a new CRL without a restart.
func TestEmbeddedRefusesRevokedCertificates(t *testing.T) {
	dir := t.TempDir()
	crl := filepath.Join(dir, "crl.pem")
	data, err := os.ReadFile(filepath.Join(site, "ssl/crl.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crl, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := httpsURL(t)
	e, err := Embedded(ctx, EmbeddedConfig{DataDir: filepath.Join(dir, "etcd"), ClientURL: client, PeerURL: httpsURL(t),
		CertFile: filepath.Join(site, "ssl/certs/server.pem"), KeyFile: filepath.Join(site, "ssl/private_keys/server.pem"),
		CAFile: filepath.Join(site, "ssl/certs/ca.pem"), CRLFile: crl})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := put(t, client, "compiler.example"); err != nil {
		t.Fatalf("compiler.example: %v", err)
	}
	if err := put(t, client, "revoked.example"); err == nil {
		t.Fatal("revoked.example could write")
	}
	if err := put(t, client, "node1.example"); err != nil {
		t.Fatalf("node1.example before its revocation: %v", err)
	}

	// The CA revokes node1.example: a new CRL of the intermediate CA, as
	// scripts/puppet-ca.sh revoke writes it, signed with the CA's key.
	block, _ := pem.Decode(mustRead(t, filepath.Join(site, "ca/ca_key.pem")))
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode(mustRead(t, filepath.Join(site, "ca/ca_crt.pem")))
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var serials []x509.RevocationListEntry
	for _, n := range []string{"revoked.example", "node1.example"} {
		b, _ := pem.Decode(mustRead(t, filepath.Join(site, "ssl/certs", n+".pem")))
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		serials = append(serials, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: newSerial(), ThisUpdate: time.Now(),
		NextUpdate: time.Now().Add(time.Hour), RevokedCertificateEntries: serials}, caCert, key)
	if err != nil {
		t.Fatal(err)
	}
	rest := string(data[strings.Index(string(data), "-----END X509 CRL-----")+len("-----END X509 CRL-----\n"):])
	tmp := crl + ".tmp"
	if err := os.WriteFile(tmp, append(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), rest...), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(tmp, later, later)
	if err := os.Rename(tmp, crl); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for put(t, client, "node1.example") == nil {
		if time.Now().After(deadline) {
			t.Fatal("node1.example still writes 20 s after its revocation reached crl.pem")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := put(t, client, "compiler.example"); err != nil {
		t.Fatalf("compiler.example after node1's revocation: %v", err)
	}
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newSerial() *big.Int { return big.NewInt(time.Now().UnixNano()) }
