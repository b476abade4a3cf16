package puppetssl

import (
	"crypto/tls"
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
type Server struct{ *source }

// source is an ssldir's trust, read again when the CRL file changes.
type source struct {
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

func newSource(d Dir, mode Revocation, logf func(format string, args ...any)) (*source, error) {
	t, err := LoadTrust(d.CA(), d.CRL(), mode)
	if err != nil {
		return nil, fmt.Errorf("ssldir %s: %w", d.Path, err)
	}
	return &source{dir: d, mode: mode, logf: logf, stamp: stampOf(d.CRL()), trust: t}, nil
}

// NewServer reads the ssldir. logf, when not nil, is told when a changed CRL
// cannot be read (the previous one stays in force).
func NewServer(d Dir, mode Revocation, logf func(format string, args ...any)) (*Server, error) {
	src, err := newSource(d, mode, logf)
	if err != nil {
		return nil, err
	}
	return &Server{source: src}, nil
}

// current returns the trust, read again if the CRL file changed.
func (s *source) current() *Trust {
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

func (s *source) pair() (tls.Certificate, error) {
	pair, err := s.dir.KeyPair()
	if err != nil {
		return pair, fmt.Errorf("ssldir %s: certificate of %q: %w", s.dir.Path, s.dir.Certname, err)
	}
	return pair, nil
}

// Config returns the server's TLS configuration, with this host's certificate and
// key from the ssldir.
func (s *Server) Config() (*tls.Config, error) {
	pair, err := s.pair()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    s.trust.Pool(),
		// VerifyConnection, unlike VerifyPeerCertificate, also runs when a
		// session is resumed: a certificate revoked since its first handshake
		// is refused on its next connection too.
		VerifyConnection: func(cs tls.ConnectionState) error {
			return s.current().CheckRevocation(cs.VerifiedChains, time.Now())
		},
	}, nil
}

// Client is the TLS side of a client that presents this host's certificate and
// verifies servers as Puppet does: against the CA bundle, the server's name, and
// the CRLs (read again when they change).
type Client struct{ *source }

// NewClient reads the ssldir; logf as for NewServer.
func NewClient(d Dir, mode Revocation, logf func(format string, args ...any)) (*Client, error) {
	src, err := newSource(d, mode, logf)
	if err != nil {
		return nil, err
	}
	return &Client{source: src}, nil
}

// Config returns the client's TLS configuration.
func (c *Client) Config() (*tls.Config, error) {
	pair, err := c.pair()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		RootCAs:      c.trust.Pool(),
		VerifyConnection: func(cs tls.ConnectionState) error {
			return c.current().CheckRevocation(cs.VerifiedChains, time.Now())
		},
	}, nil
}
