package puppetssl

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// Server is the TLS side of a server that presents this host's certificate and
// requires every client to present a certificate of the CA that is not revoked,
// as PuppetDB's jetty does (client-auth need, ssl-crl-path). The CRL file is read
// again when it changes, so a certificate revoked at the CA is refused from the
// moment the new CRL reaches the ssldir, without a restart.
type Server struct {
	dir  Dir
	mode Revocation
	logf func(format string, args ...any)

	mu    sync.Mutex
	trust *Trust
	stamp stamp
}

// stamp tells whether a file changed.
type stamp struct {
	mod  time.Time
	size int64
	ok   bool
}

func stampOf(file string) stamp {
	fi, err := os.Stat(file)
	if err != nil {
		return stamp{}
	}
	return stamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
}

// NewServer reads the ssldir. logf, when not nil, is told when a changed CRL
// cannot be read (the previous one stays in force).
func NewServer(d Dir, mode Revocation, logf func(format string, args ...any)) (*Server, error) {
	s := &Server{dir: d, mode: mode, logf: logf, stamp: stampOf(d.CRL())}
	t, err := LoadTrust(d.CA(), d.CRL(), mode)
	if err != nil {
		return nil, fmt.Errorf("ssldir %s: %w", d.Path, err)
	}
	s.trust = t
	return s, nil
}

// current returns the trust, read again if the CRL file changed.
func (s *Server) current() *Trust {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mode == Off {
		return s.trust
	}
	st := stampOf(s.dir.CRL())
	if st == s.stamp {
		return s.trust
	}
	s.stamp = st
	t, err := LoadTrust(s.dir.CA(), s.dir.CRL(), s.mode)
	if err != nil {
		if s.logf != nil {
			s.logf("%v; the CRL read before stays in force", err)
		}
		return s.trust
	}
	s.trust = t
	return t
}

// Config returns the server's TLS configuration, with this host's certificate and
// key from the ssldir.
func (s *Server) Config() (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(s.dir.Cert(), s.dir.Key())
	if err != nil {
		return nil, fmt.Errorf("ssldir %s: certificate of %q: %w", s.dir.Path, s.dir.Certname, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    s.trust.Pool(),
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			return s.current().CheckRevocation(chains, time.Now())
		},
	}, nil
}
