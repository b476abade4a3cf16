package puppetssl

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Dir is an ssldir and the certname of this host in it.
type Dir struct {
	// Path is the ssldir (Debian: /var/lib/puppet/ssl).
	Path string
	// Certname names this host's certificate and key.
	Certname string
	// Passfile holds the password of the key when it is encrypted (Puppet's
	// passfile); "" is Puppet's default, $ssldir/private/password.
	Passfile string
}

// CA is the CA bundle (Puppet's localcacert).
func (d Dir) CA() string { return filepath.Join(d.Path, "certs", "ca.pem") }

// CRL holds the CA's revocation lists (Puppet's hostcrl).
func (d Dir) CRL() string { return filepath.Join(d.Path, "crl.pem") }

// Cert is this host's certificate (hostcert). Puppet names the files by the
// lowercased certname.
func (d Dir) Cert() string {
	return filepath.Join(d.Path, "certs", strings.ToLower(d.Certname)+".pem")
}

// Key is this host's private key (hostprivkey).
func (d Dir) Key() string {
	return filepath.Join(d.Path, "private_keys", strings.ToLower(d.Certname)+".pem")
}

// readBlocks returns the DER of every PEM block of type typ in file.
func readBlocks(file, typ string) ([][]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type == typ {
			out = append(out, b.Bytes)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no %s", file, typ)
	}
	return out, nil
}

// readCerts returns every certificate in file.
func readCerts(file string) ([]*x509.Certificate, error) {
	ders, err := readBlocks(file, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	certs := make([]*x509.Certificate, 0, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", file, i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}
