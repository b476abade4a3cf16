package exported

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Etcd is a running etcd, embedded or external, and a client of it.
type Etcd struct {
	Client *clientv3.Client
	server *embed.Etcd // nil when external
	stop   chan struct{}
}

// EmbeddedConfig describes an embedded etcd member.
type EmbeddedConfig struct {
	// Name names the member ("default" when empty).
	Name string
	// DataDir holds etcd's data; it survives restarts.
	DataDir string
	// ClientURL and PeerURL are where the member listens (loopback ports by default).
	ClientURL, PeerURL string
	// Seeds lists every member of a new cluster ("a=http://10.0.0.1:2380,b=...",
	// this one included): the members start together and form one cluster. Empty:
	// a cluster of this member alone.
	Seeds string
	// CertFile, KeyFile and CAFile, when set, make the member serve clients (an
	// https ClientURL) and peers over TLS with that certificate, requiring client
	// certificates signed by CAFile; the in-process client uses the same files.
	CertFile, KeyFile, CAFile string
	// CRLFile, with CertFile, is a CRL file as Puppet keeps it (crl.pem): the
	// member refuses the client and peer certificates it revokes, and follows its
	// changes.
	CRLFile string
	// AllowPlaintext lets the member serve clients or peers without TLS on an
	// address beyond loopback, where anyone who reaches it could write exports.
	AllowPlaintext bool
	// MaxTxnOps bounds the operations of one transaction: a node's exports are
	// replaced in one (etcd's own default is 128).
	MaxTxnOps uint
}

// maxRequest bounds one etcd request, on the member and in the clients.
const maxRequest = 64 << 20

// Embedded starts a one-member etcd in the process, with quiet logs.
func Embedded(ctx context.Context, c EmbeddedConfig) (*Etcd, error) {
	cfg := embed.NewConfig()
	if c.Name != "" {
		cfg.Name = c.Name
	}
	cfg.Dir = c.DataDir
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	clientURL, peerURL := c.ClientURL, c.PeerURL
	if clientURL == "" {
		clientURL = "http://127.0.0.1:2379"
	}
	if peerURL == "" {
		peerURL = "http://127.0.0.1:2380"
	}
	cu, err := url.Parse(clientURL)
	if err != nil {
		return nil, fmt.Errorf("etcd client URL %q: %w", clientURL, err)
	}
	pu, err := url.Parse(peerURL)
	if err != nil {
		return nil, fmt.Errorf("etcd peer URL %q: %w", peerURL, err)
	}
	if err := checkListen("client", cu, c.CertFile != "", c.AllowPlaintext); err != nil {
		return nil, err
	}
	if err := checkListen("peer", pu, c.CertFile != "", c.AllowPlaintext); err != nil {
		return nil, err
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	if c.Seeds != "" {
		cfg.InitialCluster = c.Seeds
		cfg.InitialClusterToken = "mgmt-puppet"
	}
	// Keys are rewritten with every command: etcd keeps their history only an
	// hour, and may grow to etcd's largest recommended size (reports dominate:
	// docs/exported.md has the arithmetic).
	cfg.AutoCompactionMode, cfg.AutoCompactionRetention = "periodic", "1h"
	cfg.QuotaBackendBytes = 8 << 30
	// A node's catalog is one value, gzipped: let one of 100,000 resources fit.
	cfg.MaxRequestBytes = maxRequest
	cfg.MaxTxnOps = 10000
	if c.MaxTxnOps > 0 {
		cfg.MaxTxnOps = c.MaxTxnOps
	}
	var clientTLS *tls.Config
	if c.CertFile != "" {
		info := transport.TLSInfo{CertFile: c.CertFile, KeyFile: c.KeyFile, TrustedCAFile: c.CAFile, ClientCertAuth: true}
		if c.CRLFile != "" {
			if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
				return nil, err
			}
			info.CRLFile = filepath.Join(c.DataDir, "crl.der")
			if err := derCRL(c.CRLFile, c.CertFile, info.CRLFile); err != nil {
				return nil, fmt.Errorf("etcd CRL: %w", err)
			}
		}
		cfg.ClientTLSInfo, cfg.PeerTLSInfo = info, info
		if clientTLS, err = info.ClientConfig(); err != nil {
			return nil, fmt.Errorf("etcd TLS: %w", err)
		}
	}
	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd: %w", err)
	}
	select {
	case <-srv.Server.ReadyNotify():
	case err := <-srv.Err():
		srv.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		srv.Close()
		return nil, fmt.Errorf("embedded etcd: not ready within 60 s (with --etcd-seeds, a majority of the members must be up)")
	case <-ctx.Done():
		srv.Close()
		return nil, ctx.Err()
	}
	endpoint := srv.Clients[0].Addr().String()
	if clientTLS != nil {
		endpoint = "https://" + endpoint
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second,
		TLS: clientTLS, Logger: zap.NewNop(), MaxCallSendMsgSize: maxRequest, MaxCallRecvMsgSize: math.MaxInt32})
	if err != nil {
		srv.Close()
		return nil, err
	}
	e := &Etcd{Client: cli, server: srv, stop: make(chan struct{})}
	if c.CRLFile != "" && c.CertFile != "" {
		go followCRL(c.CRLFile, c.CertFile, filepath.Join(c.DataDir, "crl.der"), e.stop)
	}
	return e, nil
}

// External connects to an etcd cluster; tlsConfig may be nil for plain HTTP.
func External(endpoints []string, tlsConfig *tls.Config) (*Etcd, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, TLS: tlsConfig,
		Logger: zap.NewNop(), MaxCallSendMsgSize: maxRequest, MaxCallRecvMsgSize: math.MaxInt32})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd %v: %w", endpoints, err)
	}
	return &Etcd{Client: cli}, nil
}

// Store returns the Store on this etcd, reports kept for PuppetDB's default TTL.
func (e *Etcd) Store() Store { return NewStore(e.Client, 0) }

// Close closes the client, then stops the embedded member, if any.
func (e *Etcd) Close() error {
	if e.stop != nil {
		close(e.stop)
	}
	err := e.Client.Close()
	if e.server != nil {
		e.server.Close()
	}
	return err
}
