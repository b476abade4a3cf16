package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/puppetssl"
	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
)

// Logger takes the bootstrap's and the run's log lines.
type Logger interface {
	Printf(level engine.Level, format string, args ...any)
}

// SSL is what the bootstrap of a node's certificate needs: Puppet's SSL settings.
type SSL struct {
	Dir        puppetssl.Dir
	CA         string // https://ca_server:ca_port
	Revocation puppetssl.Revocation
	KeyType    string // rsa or ec
	KeyLength  int    // RSA bits
	Curve      string // EC curve: prime256v1, secp384r1, secp521r1
	// CSRAttributes is csr_attributes.yaml: its custom attributes and extension
	// requests go into the CSR (csr.go).
	// ResolveCA, when set, gives the CA's URL (CA is not used) the first time the
	// CA is needed, with the TLS configuration of that request: server_list's
	// servers are asked then.
	ResolveCA     func(ctx context.Context, conf *tls.Config) (string, error)
	CSRAttributes string
	// DNSAltNames are the subject alternative names to ask for (dns_alt_names).
	DNSAltNames string
	// CRLRefresh is crl_refresh_interval: how often the CRLs are asked for
	// again (0: never, Puppet's default).
	CRLRefresh time.Duration
	// Fingerprint is ca_fingerprint: the SHA-256 of the CA bundle as downloaded,
	// in hex with or without colons; empty trusts the first download.
	Fingerprint string
	// WaitForCert is the wait between tries while the certificate is not signed;
	// 0 gives up at once. MaxWait bounds the whole wait (puppetconf.Unlimited:
	// no bound; 0 gives up after the first wait, as in Puppet).
	WaitForCert, MaxWait time.Duration
	HTTPOptions          HTTPOptions
	Log                  Logger
	Stdout               io.Writer // the lines puppet agent prints without a level
}

// ErrNotSigned says the node's certificate was not signed within the wait.
var ErrNotSigned = errors.New("certificate not signed")

// Ensure makes sure the ssldir holds the CA bundle, the CRLs (unless revocation
// is off), this node's key and its signed certificate, fetching and creating what
// is missing as puppet agent's SSL state machine does, and returns the TLS
// configuration of a client of the server.
func (s SSL) Ensure(ctx context.Context) (*tls.Config, error) {
	start := time.Now()
	for {
		conf, err := s.attempt(ctx)
		if !errors.Is(err, errUnsigned) {
			return conf, err
		}
		fmt.Fprintf(s.Stdout, "Couldn't fetch certificate from CA server; you might still need to sign this agent's certificate (%s).\n", s.Dir.Certname)
		if s.WaitForCert <= 0 {
			fmt.Fprintln(s.Stdout, "Exiting now because the waitforcert setting is set to 0.")
			return nil, ErrNotSigned
		}
		if time.Since(start) > s.MaxWait {
			fmt.Fprintf(s.Stdout, "Couldn't fetch certificate from CA server; you might still need to sign this agent's certificate (%s). Exiting now because the maxwaitforcert timeout has been exceeded.\n", s.Dir.Certname)
			return nil, ErrNotSigned
		}
		s.Log.Printf(engine.Info, "Will try again in %d seconds.", int(s.WaitForCert.Seconds()))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(s.WaitForCert):
		}
	}
}

var errUnsigned = errors.New("not signed yet")

func (s SSL) attempt(ctx context.Context) (*tls.Config, error) {
	if err := s.caCerts(ctx); err != nil {
		return nil, err
	}
	if err := s.crls(ctx); err != nil {
		return nil, err
	}
	trust, err := puppetssl.LoadTrust(s.Dir.CA(), s.Dir.CRL(), s.Revocation)
	if err != nil {
		return nil, err
	}
	root := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: trust.Pool()}
	key, err := s.key()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(s.Dir.Cert()); err != nil {
		if err := s.certificate(ctx, root, trust, key); err != nil {
			return nil, err
		}
	}
	client, err := puppetssl.NewClient(s.Dir, s.Revocation, func(format string, args ...any) {
		s.Log.Printf(engine.Warning, format, args...)
	})
	if err != nil {
		return nil, err
	}
	if err := verifyOwn(s.Dir, trust); err != nil {
		return nil, err
	}
	return client.Config()
}

// verifyOwn checks the node's own certificate against the CA and the CRLs, as
// Puppet does when it builds its SSL context: a revoked node does not run.
func verifyOwn(d puppetssl.Dir, trust *puppetssl.Trust) error {
	pair, err := d.KeyPair()
	if err != nil {
		return fmt.Errorf("the certificate and key of %s do not match: %w", d.Certname, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("%s: %w", d.Cert(), err)
	}
	if err := trust.Verify([]*x509.Certificate{leaf}, x509.ExtKeyUsageAny, time.Now()); err != nil {
		return fmt.Errorf("the certificate of %s (%s): %w", d.Certname, d.Cert(), err)
	}
	return nil
}

// caClient is a client of the CA: at CA, or where ResolveCA says it is.
func (s SSL) caClient(ctx context.Context, conf *tls.Config) (*Client, error) {
	base := s.CA
	if s.ResolveCA != nil {
		var err error
		if base, err = s.ResolveCA(ctx, conf); err != nil {
			return nil, err
		}
	}
	c := NewClient(base, conf, s.HTTPOptions)
	c.Log = s.Log
	return c, nil
}

// caCerts downloads the CA bundle when the ssldir has none. The first download
// cannot verify the server (there is nothing to verify it against yet), as in
// Puppet; Fingerprint pins it.
func (s SSL) caCerts(ctx context.Context) error {
	if _, err := os.Stat(s.Dir.CA()); err == nil {
		return nil
	}
	c, err := s.caClient(ctx, &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true})
	if err != nil {
		return err
	}
	defer c.Close()
	pemData, err := c.CACerts(ctx)
	if err != nil {
		return fmt.Errorf("could not download CA certificate: %w", err)
	}
	if s.Fingerprint != "" {
		sum := sha256.Sum256(pemData)
		got := hexColons(sum[:])
		want := strings.ToUpper(strings.ReplaceAll(s.Fingerprint, ":", ""))
		if strings.ReplaceAll(got, ":", "") != want {
			return fmt.Errorf("CA bundle with digest (SHA256) %s did not match expected digest %s", got, s.Fingerprint)
		}
		s.Log.Printf(engine.Info, "Verified CA bundle with digest (SHA256) %s", got)
	}
	if n, err := countPEM(pemData, "CERTIFICATE", func(der []byte) error { _, err := x509.ParseCertificate(der); return err }); err != nil || n == 0 {
		return fmt.Errorf("the CA bundle from %s is not a PEM bundle of certificates: %v", c.Base(), err)
	}
	return s.save(s.Dir.CA(), pemData, 0o644, 0o755)
}

// crls downloads the CRLs when they are checked and the ssldir has none, and
// refreshes them every CRLRefresh as Puppet's agent does: the file's time says
// when they were last asked for, and a refresh that fails keeps them.
func (s SSL) crls(ctx context.Context) error {
	if s.Revocation == puppetssl.Off {
		s.Log.Printf(engine.Info, "Certificate revocation is disabled, skipping CRL download")
		return nil
	}
	st, err := os.Stat(s.Dir.CRL())
	if err != nil {
		err := s.downloadCRL(ctx, time.Time{})
		var fe fetchError
		switch {
		case errors.As(err, &fe) && NotFound(fe.error):
			return errors.New("CRL is missing from the server")
		case errors.As(err, &fe):
			return fmt.Errorf("could not download CRLs: %w", fe.error)
		}
		return err
	}
	now := time.Now()
	if s.CRLRefresh <= 0 || now.Unix() <= st.ModTime().Unix()+int64(s.CRLRefresh.Seconds()) {
		return nil
	}
	// The time of the last update first, then a refresh on a best effort.
	if err := os.Chtimes(s.Dir.CRL(), now, now); err != nil {
		return err
	}
	s.Log.Printf(engine.Info, "Refreshing CRL")
	err = s.downloadCRL(ctx, st.ModTime())
	var re *ResponseError
	var fe fetchError
	switch {
	case err == nil:
	case errors.As(err, &re) && re.Code == http.StatusNotModified:
		s.Log.Printf(engine.Info, "CRL is unmodified, using existing CRL")
	case errors.As(err, &re):
		s.Log.Printf(engine.Info, "Failed to refresh CRL, using existing CRL: %s", re.Reason)
	case errors.As(err, &fe):
		s.Log.Printf(engine.Warning, "Failed to refresh CRL, using existing CRL: %v", fe.error)
	default:
		return err // the CRLs the CA sent do not verify, or cannot be saved
	}
	return nil
}

// fetchError is a request to the CA that failed.
type fetchError struct{ error }

func (e fetchError) Unwrap() error { return e.error }

// downloadCRL fetches the CRLs (only if changed since, when since is set),
// checks them against the CA and saves them.
func (s SSL) downloadCRL(ctx context.Context, since time.Time) error {
	trust, err := puppetssl.LoadTrust(s.Dir.CA(), "", puppetssl.Off)
	if err != nil {
		return err
	}
	c, err := s.caClient(ctx, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: trust.Pool()})
	if err != nil {
		return fetchError{err}
	}
	defer c.Close()
	pemData, err := c.CRL(ctx, since)
	if err != nil {
		return fetchError{err}
	}
	tmp := s.Dir.CRL() + ".new"
	if err := os.WriteFile(tmp, pemData, 0o644); err != nil {
		return err
	}
	defer os.Remove(tmp)
	if _, err := puppetssl.LoadTrust(s.Dir.CA(), tmp, s.Revocation); err != nil {
		return fmt.Errorf("the CRLs from %s: %w", c.Base(), err)
	}
	return s.save(s.Dir.CRL(), pemData, 0o644, 0o771)
}

// key loads the node's private key or creates one: with a passfile, both as
// Puppet does, decrypted and encrypted with its password.
func (s SSL) key() (crypto.Signer, error) {
	key, err := s.Dir.LoadKey()
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	password, err := s.Dir.Password()
	if err != nil {
		return nil, err
	}
	switch s.KeyType {
	case "ec":
		curve, ok := map[string]elliptic.Curve{"prime256v1": elliptic.P256(), "secp256r1": elliptic.P256(),
			"secp384r1": elliptic.P384(), "secp521r1": elliptic.P521()}[s.Curve]
		if !ok {
			return nil, fmt.Errorf("named_curve %q: not one of prime256v1, secp384r1, secp521r1", s.Curve)
		}
		s.Log.Printf(engine.Info, "Creating a new EC SSL key for %s using curve %s", s.Dir.Certname, s.Curve)
		key, err = ecdsa.GenerateKey(curve, rand.Reader)
	default:
		s.Log.Printf(engine.Info, "Creating a new RSA SSL key for %s", s.Dir.Certname)
		key, err = rsa.GenerateKey(rand.Reader, s.KeyLength)
	}
	if err != nil {
		return nil, err
	}
	data, err := puppetssl.KeyPEM(key, password)
	if err != nil {
		return nil, err
	}
	if err := s.save(s.Dir.Key(), data, 0o640, 0o750); err != nil {
		return nil, err
	}
	return key, nil
}

// certificate submits a CSR (unless the CA has one already) and fetches the signed
// certificate; errUnsigned when the CA has not signed it yet.
func (s SSL) certificate(ctx context.Context, root *tls.Config, trust *puppetssl.Trust, key crypto.Signer) error {
	c, err := s.caClient(ctx, root)
	if err != nil {
		return err
	}
	defer c.Close()
	csrFile := filepath.Join(s.Dir.Path, "certificate_requests", strings.ToLower(s.Dir.Certname)+".pem")
	if _, err := os.Stat(csrFile); err != nil {
		var attrs *CSRAttributes
		if s.CSRAttributes != "" {
			s.Log.Printf(engine.Info, "csr_attributes file loading from %s", s.CSRAttributes)
			a, err := LoadCSRAttributes(s.CSRAttributes)
			if err != nil {
				return err
			}
			attrs = a
		}
		s.Log.Printf(engine.Info, "Creating a new SSL certificate request for %s", s.Dir.Certname)
		der, err := createCSR(s.Dir.Certname, key, attrs, s.DNSAltNames)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(der)
		s.Log.Printf(engine.Info, "Certificate Request fingerprint (SHA256): %s", hexColons(sum[:]))
		csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
		err = c.SubmitCSR(ctx, s.Dir.Certname, csr)
		var re *ResponseError
		switch {
		case errors.As(err, &re) && re.Code == 400:
			// The CA has a request or a certificate of this name already.
			s.Log.Printf(engine.Debug, "The CA did not take the CSR: %s", re.Message)
		case err != nil:
			if errors.As(err, &re) {
				return fmt.Errorf("Failed to submit the CSR, HTTP response was %d", re.Code)
			}
			return fmt.Errorf("failed to submit the CSR: %w", err)
		default:
			if err := s.save(csrFile, csr, 0o644, 0o755); err != nil {
				return err
			}
		}
	}
	pemData, err := c.Certificate(ctx, s.Dir.Certname)
	if NotFound(err) {
		s.Log.Printf(engine.Info, "Certificate for %s has not been signed yet", s.Dir.Certname)
		return errUnsigned
	}
	if err != nil {
		return fmt.Errorf("Failed to retrieve certificate for %s: %w", s.Dir.Certname, err)
	}
	b, _ := pem.Decode(pemData)
	if b == nil || b.Type != "CERTIFICATE" {
		return fmt.Errorf("Failed to parse certificate: no PEM certificate from %s", c.Base())
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return fmt.Errorf("Failed to parse certificate: %w", err)
	}
	if !publicKeyMatches(cert, key) {
		return fmt.Errorf("The certificate for '%s' does not match its private key", s.Dir.Certname)
	}
	if err := trust.Verify([]*x509.Certificate{cert}, x509.ExtKeyUsageAny, time.Now()); err != nil {
		return err
	}
	s.Log.Printf(engine.Info, "Downloaded certificate for %s from %s", s.Dir.Certname, c.Base()+"/puppet-ca/v1")
	if err := s.save(s.Dir.Cert(), pemData, 0o644, 0o755); err != nil {
		return err
	}
	os.Remove(csrFile)
	return nil
}

func signatureAlgorithm(k crypto.Signer) x509.SignatureAlgorithm {
	if _, ok := k.(*ecdsa.PrivateKey); ok {
		return x509.ECDSAWithSHA256
	}
	return x509.SHA256WithRSA
}

func publicKeyMatches(c *x509.Certificate, k crypto.Signer) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := c.PublicKey.(equaler)
	return ok && pub.Equal(k.Public())
}

// save writes file durably with mode, creating its directory with dirMode.
func (s SSL) save(file string, data []byte, mode, dirMode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(file), dirMode); err != nil {
		return err
	}
	return atomicfile.Write(file, string(data), atomicfile.Options{Mode: uint32(mode), UID: -1, GID: -1})
}

func countPEM(data []byte, typ string, check func(der []byte) error) (int, error) {
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return n, nil
		}
		if b.Type != typ {
			continue
		}
		if err := check(b.Bytes); err != nil {
			return n, err
		}
		n++
	}
}

func hexColons(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}
