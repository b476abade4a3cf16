package puppetssl

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"
)

// Revocation is Puppet's certificate_revocation setting.
type Revocation int

const (
	// Chain checks every certificate of a peer's chain against its issuer's CRL,
	// and needs a CRL from every CA (Puppet's default).
	Chain Revocation = iota
	// Leaf checks the peer's own certificate only.
	Leaf
	// Off checks no CRL.
	Off
)

// ParseRevocation reads the setting as puppet.conf spells it.
func ParseRevocation(s string) (Revocation, error) {
	switch s {
	case "chain", "true":
		return Chain, nil
	case "leaf":
		return Leaf, nil
	case "false":
		return Off, nil
	}
	return 0, fmt.Errorf("certificate_revocation %q: want chain, leaf or false", s)
}

func (r Revocation) String() string {
	return [...]string{"chain", "leaf", "false"}[r]
}

// skew is how far in the future a CRL's thisUpdate may be (Puppet's allowance for
// clocks a little behind the CA's).
const skew = 5 * time.Minute

// Trust is what peers are checked against: the certificates of the CA bundle, all
// trusted, and the revocation lists of their CAs.
type Trust struct {
	cas  []*x509.Certificate
	pool *x509.CertPool
	mode Revocation
	crls map[string]*crl // by the issuer's raw subject
}

type crl struct {
	issuer     *x509.Certificate
	this, next time.Time
	revoked    map[string]bool // serial numbers, in hex
}

// LoadTrust reads the CA bundle and, unless mode is Off, the CRLs. Every CRL must
// be signed by a CA of the bundle.
func LoadTrust(caFile, crlFile string, mode Revocation) (*Trust, error) {
	cas, err := readCerts(caFile)
	if err != nil {
		return nil, err
	}
	t := &Trust{cas: cas, pool: x509.NewCertPool(), mode: mode, crls: map[string]*crl{}}
	for _, c := range cas {
		t.pool.AddCert(c)
	}
	if mode == Off {
		return t, nil
	}
	ders, err := readBlocks(crlFile, "X509 CRL")
	if err != nil {
		return nil, fmt.Errorf("certificate_revocation is %s: %w", mode, err)
	}
	for i, der := range ders {
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("%s: CRL %d: %w", crlFile, i+1, err)
		}
		issuer := t.issuerOf(rl.RawIssuer, rl.CheckSignatureFrom)
		if issuer == nil {
			return nil, fmt.Errorf("%s: CRL %d (issuer %s) is not signed by a CA of %s", crlFile, i+1, rl.Issuer, caFile)
		}
		c := &crl{issuer: issuer, this: rl.ThisUpdate, next: rl.NextUpdate, revoked: map[string]bool{}}
		for _, e := range rl.RevokedCertificateEntries {
			c.revoked[serial(e.SerialNumber)] = true
		}
		if old := t.crls[string(issuer.RawSubject)]; old == nil || c.this.After(old.this) {
			t.crls[string(issuer.RawSubject)] = c
		}
	}
	return t, nil
}

func serial(n *big.Int) string { return n.Text(16) }

// issuerOf finds the CA named subject whose key verifies a signature.
func (t *Trust) issuerOf(subject []byte, signedBy func(*x509.Certificate) error) *x509.Certificate {
	for _, ca := range t.cas {
		if bytes.Equal(ca.RawSubject, subject) && signedBy(ca) == nil {
			return ca
		}
	}
	return nil
}

// Pool is the CA bundle as a pool of roots: Puppet trusts every certificate of it.
func (t *Trust) Pool() *x509.CertPool { return t.pool }

// Verify checks a peer's certificates (leaf first) against the CA bundle and the
// CRLs, for a client (usage ClientAuth) or a server (ServerAuth).
func (t *Trust) Verify(certs []*x509.Certificate, usage x509.ExtKeyUsage, now time.Time) error {
	if len(certs) == 0 {
		return fmt.Errorf("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: t.pool, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return fmt.Errorf("certificate %q: %w", certs[0].Subject.CommonName, err)
	}
	return t.CheckRevocation(chains, now)
}

// CheckRevocation checks verified chains against the CRLs: it passes when one
// chain passes.
func (t *Trust) CheckRevocation(chains [][]*x509.Certificate, now time.Time) error {
	if t.mode == Off {
		return nil
	}
	var first error
	for _, chain := range chains {
		err := t.checkChain(t.complete(chain), now)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("no verified certificate chain")
	}
	return first
}

// complete extends a chain that ends at a trusted intermediate up to its
// self-signed root, as OpenSSL builds it, so that Chain checks the root's CRL too.
func (t *Trust) complete(chain []*x509.Certificate) []*x509.Certificate {
	for len(chain) < 10 {
		last := chain[len(chain)-1]
		if selfSigned(last) {
			break
		}
		issuer := t.issuerOf(last.RawIssuer, last.CheckSignatureFrom)
		if issuer == nil {
			break
		}
		chain = append(chain, issuer)
	}
	return chain
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func (t *Trust) checkChain(chain []*x509.Certificate, now time.Time) error {
	n := len(chain)
	if t.mode == Leaf {
		n = 1
	}
	for i := 0; i < n; i++ {
		cert := chain[i]
		issuer := cert
		if i+1 < len(chain) {
			issuer = chain[i+1]
		} else if !selfSigned(cert) {
			issuer = t.issuerOf(cert.RawIssuer, cert.CheckSignatureFrom)
			if issuer == nil {
				return fmt.Errorf("certificate %q: its issuer %s is not in the CA bundle", cert.Subject.CommonName, cert.Issuer)
			}
		}
		rl := t.crls[string(issuer.RawSubject)]
		if rl == nil {
			return fmt.Errorf("certificate %q: no CRL of its issuer %q in crl.pem", cert.Subject.CommonName, issuer.Subject.CommonName)
		}
		if rl.this.After(now.Add(skew)) {
			return fmt.Errorf("the CRL of %q is not valid before %s", issuer.Subject.CommonName, rl.this.UTC().Format(time.RFC3339))
		}
		if !rl.next.IsZero() && now.After(rl.next) {
			return fmt.Errorf("the CRL of %q expired at %s", issuer.Subject.CommonName, rl.next.UTC().Format(time.RFC3339))
		}
		if rl.revoked[serial(cert.SerialNumber)] {
			return fmt.Errorf("certificate %q (serial %s) is revoked", cert.Subject.CommonName, serial(cert.SerialNumber))
		}
	}
	return nil
}
