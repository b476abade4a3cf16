package puppetssl

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The material in testdata comes from Puppet's own CA code (testdata/generate.sh).
var (
	site  = Dir{Path: "testdata/site/ssl", Certname: "server"}
	other = Dir{Path: "testdata/other/ssl", Certname: "server"}
)

func cert(t *testing.T, d Dir, name string) *x509.Certificate {
	t.Helper()
	cs, err := readCerts(Dir{Path: d.Path, Certname: name}.Cert())
	if err != nil {
		t.Fatal(err)
	}
	return cs[0]
}

func key(t *testing.T, file string) crypto.Signer {
	t.Helper()
	ders, err := readBlocks(file, "RSA PRIVATE KEY")
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS1PrivateKey(ders[0])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// caCerts returns the site's intermediate and root CA certificates.
func caCerts(t *testing.T) (inter, root *x509.Certificate) {
	t.Helper()
	cas, err := readCerts(site.CA())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cas {
		if selfSigned(c) {
			root = c
		} else {
			inter = c
		}
	}
	if inter == nil || root == nil {
		t.Fatalf("%s: want an intermediate and a root", site.CA())
	}
	return inter, root
}

// signCRL returns a PEM CRL of issuer revoking serials.
func signCRL(t *testing.T, issuer *x509.Certificate, k crypto.Signer, this, next time.Time, serials ...*big.Int) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: this, NextUpdate: next}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: s, RevocationTime: this})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// crlBlocks returns the PEM CRLs of the site's crl.pem: the intermediate's, then the root's.
func crlBlocks(t *testing.T) (inter, root []byte) {
	t.Helper()
	data, err := os.ReadFile(site.CRL())
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		blocks = append(blocks, pem.EncodeToMemory(b))
	}
	if len(blocks) != 2 {
		t.Fatalf("%s: %d CRLs, want 2", site.CRL(), len(blocks))
	}
	return blocks[0], blocks[1]
}

func writeTemp(t *testing.T, parts ...[]byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "crl.pem")
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	if err := os.WriteFile(f, all, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestVerify(t *testing.T) {
	now := time.Now()
	inter, root := caCerts(t)
	interCRL, rootCRL := crlBlocks(t)
	interKey, rootKey := key(t, "testdata/site/ca/ca_key.pem"), key(t, "testdata/site/ca/root_key.pem")
	expired := signCRL(t, inter, interKey, now.Add(-48*time.Hour), now.Add(-time.Hour))
	future := signCRL(t, inter, interKey, now.Add(time.Hour), now.Add(48*time.Hour))
	interRevoked := signCRL(t, root, rootKey, now.Add(-time.Minute), now.Add(time.Hour), inter.SerialNumber)
	cases := []struct {
		name, crl, client string
		client2           Dir // the client's ssldir
		mode              Revocation
		want              string // "" passes; else a part of the error
	}{
		{"site certificate", site.CRL(), "compiler.example", site, Chain, ""},
		{"revoked", site.CRL(), "revoked.example", site, Chain, `"revoked.example" (serial 4) is revoked`},
		{"revoked, leaf", site.CRL(), "revoked.example", site, Leaf, "is revoked"},
		{"revoked, revocation off", site.CRL(), "revoked.example", site, Off, ""},
		{"another CA", site.CRL(), "compiler.example", other, Chain, "certificate signed by unknown authority"},
		{"no CRL of the root", writeTemp(t, interCRL), "compiler.example", site, Chain, `no CRL of its issuer "Puppet Root CA`},
		{"no CRL of the root, leaf", writeTemp(t, interCRL), "compiler.example", site, Leaf, ""},
		{"expired CRL", writeTemp(t, expired, rootCRL), "compiler.example", site, Chain, `the CRL of "Puppet CA: server" expired`},
		{"CRL from the future", writeTemp(t, future, rootCRL), "compiler.example", site, Chain, "is not valid before"},
		{"the intermediate revoked", writeTemp(t, interCRL, interRevoked), "compiler.example", site, Chain, `"Puppet CA: server" (serial 2) is revoked`},
		{"the intermediate revoked, leaf", writeTemp(t, interCRL, interRevoked), "compiler.example", site, Leaf, ""},
		{"the newest CRL of an issuer counts", writeTemp(t, interCRL, rootCRL, interRevoked), "compiler.example", site, Chain, "is revoked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := LoadTrust(site.CA(), c.crl, c.mode)
			if err != nil {
				t.Fatal(err)
			}
			err = tr.Verify([]*x509.Certificate{cert(t, c.client2, c.client)}, x509.ExtKeyUsageClientAuth, now)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q, want it to say %q", err, c.want)
			}
		})
	}
}

func TestLoadTrustRefuses(t *testing.T) {
	cases := []struct {
		name, ca, crl string
		want          string
	}{
		{"CRL of another CA", site.CA(), other.CRL(), "is not signed by a CA of"},
		{"no crl.pem", site.CA(), filepath.Join(t.TempDir(), "crl.pem"), "certificate_revocation is chain"},
		{"no CRL in crl.pem", site.CA(), writeTemp(t, []byte("junk\n")), "no X509 CRL"},
		{"no ca.pem", filepath.Join(t.TempDir(), "ca.pem"), site.CRL(), "no such file"},
		{"a CRL that is not one", site.CA(), writeTemp(t, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte("x")})), "CRL 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadTrust(c.ca, c.crl, Chain)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one with %q", err, c.want)
			}
		})
	}
}

func TestParseRevocation(t *testing.T) {
	for in, want := range map[string]Revocation{"chain": Chain, "true": Chain, "leaf": Leaf, "false": Off} {
		if got, err := ParseRevocation(in); err != nil || got != want {
			t.Errorf("ParseRevocation(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseRevocation("yes"); err == nil {
		t.Error(`ParseRevocation("yes") passed`)
	}
}
