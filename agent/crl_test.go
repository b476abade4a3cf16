package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/puppetssl"
)

// testCA is a CA, a CRL of it, and a server certificate it signed for 127.0.0.1.
type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pem    []byte
	server tls.Certificate
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Puppet CA: test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	skey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "puppet"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	sder, err := x509.CreateCertificate(rand.Reader, stmpl, cert, &skey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		server: tls.Certificate{Certificate: [][]byte{sder}, PrivateKey: skey}}
}

func (ca *testCA) crl(t *testing.T, number int64) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(number),
		ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// TestCRLRefresh: with crl_refresh_interval, CRLs older than it are asked for
// again with If-Modified-Since, as Puppet's agent asks: a new one replaces them,
// an unmodified or failed answer keeps them, each with Puppet's line; the time of
// the file says when they were last asked for.
func TestCRLRefresh(t *testing.T) {
	ca := newTestCA(t)
	var mu sync.Mutex
	var answer int
	var newCRL []byte
	var since []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		since = append(since, r.Header.Get("If-Modified-Since"))
		w.WriteHeader(answer)
		if answer == http.StatusOK {
			w.Write(newCRL)
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.server}}
	srv.StartTLS()
	defer srv.Close()

	for _, tc := range []struct {
		name   string
		age    time.Duration // of crl.pem
		answer int
		want   []string
		asked  bool
		newer  bool // crl.pem replaced
	}{
		{name: "fresh", age: time.Minute},
		{name: "new CRL", age: 2 * time.Hour, answer: http.StatusOK, want: []string{"Info: Refreshing CRL"}, asked: true, newer: true},
		{name: "unmodified", age: 2 * time.Hour, answer: http.StatusNotModified,
			want: []string{"Info: Refreshing CRL", "Info: CRL is unmodified, using existing CRL"}, asked: true},
		{name: "server error", age: 2 * time.Hour, answer: http.StatusInternalServerError,
			want: []string{"Info: Refreshing CRL", "Info: Failed to refresh CRL, using existing CRL: Internal Server Error"}, asked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := puppetssl.Dir{Path: t.TempDir(), Certname: "node.test"}
			os.MkdirAll(filepath.Dir(dir.CA()), 0o755)
			os.WriteFile(dir.CA(), ca.pem, 0o644)
			old := ca.crl(t, 1)
			os.WriteFile(dir.CRL(), old, 0o644)
			mtime := time.Now().Add(-tc.age).Truncate(time.Second)
			os.Chtimes(dir.CRL(), mtime, mtime)
			mu.Lock()
			answer, newCRL, since = tc.answer, ca.crl(t, 2), nil
			mu.Unlock()
			var log lines
			s := SSL{Dir: dir, CA: srv.URL, Revocation: puppetssl.Chain, CRLRefresh: time.Hour, Log: &log, HTTPOptions: DefaultHTTPOptions}
			if err := s.crls(t.Context()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual([]string(log), tc.want) && (len(log) > 0 || len(tc.want) > 0) {
				t.Errorf("logged %q, want %q", log, tc.want)
			}
			mu.Lock()
			asked := since
			mu.Unlock()
			switch {
			case !tc.asked && len(asked) > 0:
				t.Errorf("asked for the CRLs %d times within crl_refresh_interval", len(asked))
			case tc.asked && (len(asked) != 1 || asked[0] != mtime.UTC().Format(http.TimeFormat)):
				t.Errorf("If-Modified-Since %q, want %q", asked, mtime.UTC().Format(http.TimeFormat))
			}
			data, _ := os.ReadFile(dir.CRL())
			if got := string(data) != string(old); got != tc.newer {
				t.Errorf("crl.pem replaced: %v, want %v", got, tc.newer)
			}
			st, _ := os.Stat(dir.CRL())
			if tc.asked && time.Since(st.ModTime()) > time.Minute {
				t.Errorf("crl.pem's time %v: not the time of the refresh", st.ModTime())
			}
		})
	}
}
