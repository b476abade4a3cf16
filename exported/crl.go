package exported

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// derCRL writes, as DER into out, the newest CRL of pemFile (Puppet's crl.pem:
// PEM, one CRL per CA) that the issuer of certFile signed: etcd reads one DER CRL and
// checks serial numbers only, so it gets the CRL of the CA that issues the
// members' and nodes' certificates. It writes a temporary file and renames it.
func derCRL(pemFile, certFile, out string) error {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return fmt.Errorf("%s: no certificate", certFile)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return fmt.Errorf("%s: %w", certFile, err)
	}
	data, err = os.ReadFile(pemFile)
	if err != nil {
		return err
	}
	var newest *x509.RevocationList
	var der []byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "X509 CRL" {
			continue
		}
		rl, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			return fmt.Errorf("%s: %w", pemFile, err)
		}
		if bytes.Equal(rl.RawIssuer, cert.RawIssuer) && (newest == nil || rl.ThisUpdate.After(newest.ThisUpdate)) {
			newest, der = rl, b.Bytes
		}
	}
	if newest == nil {
		return fmt.Errorf("%s: no CRL of %s, the issuer of %s", pemFile, cert.Issuer, certFile)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".crl-*.der")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(der)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return werr
	}
	return os.Rename(tmp.Name(), out)
}

// followCRL writes the DER CRL again whenever pemFile changes, until stop closes.
func followCRL(pemFile, certFile, out string, stop <-chan struct{}) {
	var last time.Time
	if fi, err := os.Stat(pemFile); err == nil {
		last = fi.ModTime()
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		fi, err := os.Stat(pemFile)
		if err != nil || fi.ModTime().Equal(last) {
			continue
		}
		if derCRL(pemFile, certFile, out) == nil {
			last = fi.ModTime()
		}
	}
}
