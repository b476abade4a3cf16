//go:build exported

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
	"github.com/mgmt-puppet/mgmt-puppet/exported/puppetdb"
)

// etcdOptions choose the etcd underneath: embedded (default) or external.
type etcdOptions struct {
	name, seeds          string
	dataDir              string
	clientURL, peerURL   string
	endpoints            []string
	etcdCA, etcdCert, ek string
}

func (o *etcdOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.name, "etcd-name", "default", "name of the embedded etcd member")
	f.StringVar(&o.seeds, "etcd-seeds", "", "every member of a new embedded cluster, NAME=PEER_URL,... (this one included)")
	f.StringVar(&o.dataDir, "etcd-data-dir", "/var/lib/mgmt-puppet/etcd", "data folder of the embedded etcd")
	f.StringVar(&o.clientURL, "etcd-client-url", "http://127.0.0.1:2379", "where the embedded etcd serves clients")
	f.StringVar(&o.peerURL, "etcd-peer-url", "http://127.0.0.1:2380", "where the embedded etcd talks to peers")
	f.StringSliceVar(&o.endpoints, "etcd-endpoints", nil, "use this external etcd cluster instead of an embedded one")
	f.StringVar(&o.etcdCA, "etcd-cacert", "", "etcd over TLS: the CA of every member's and client's certificate")
	f.StringVar(&o.etcdCert, "etcd-cert", "", "etcd over TLS: this process's certificate (served by the embedded member, presented to an external one)")
	f.StringVar(&o.ek, "etcd-key", "", "etcd over TLS: the key of --etcd-cert")
}

func (o *etcdOptions) open(ctx context.Context) (*exported.Etcd, error) {
	if len(o.endpoints) == 0 {
		return exported.Embedded(ctx, exported.EmbeddedConfig{Name: o.name, DataDir: o.dataDir, ClientURL: o.clientURL,
			PeerURL: o.peerURL, Seeds: o.seeds, CertFile: o.etcdCert, KeyFile: o.ek, CAFile: o.etcdCA})
	}
	var tc *tls.Config
	if o.etcdCA != "" || o.etcdCert != "" {
		var err error
		if tc, err = tlsConfig(o.etcdCA, o.etcdCert, o.ek); err != nil {
			return nil, fmt.Errorf("etcd TLS: %w", err)
		}
	}
	return exported.External(o.endpoints, tc)
}

// tlsConfig loads a certificate pair and a CA pool.
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificate", caFile)
		}
		tc.RootCAs, tc.ClientCAs = pool, pool
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// puppetServerTLS is the TLS configuration of a server with this host's Puppet
// certificate (certname, the host name by default) from ssldir: clients that
// present a certificate must present one of Puppet's CA.
func puppetServerTLS(ssldir, certname string) (*tls.Config, error) {
	if certname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, err
		}
		certname = h
	}
	tc, err := tlsConfig(filepath.Join(ssldir, "certs", "ca.pem"),
		filepath.Join(ssldir, "certs", certname+".pem"), filepath.Join(ssldir, "private_keys", certname+".pem"))
	if err != nil {
		return nil, fmt.Errorf("TLS from %s: %w", ssldir, err)
	}
	tc.ClientAuth = tls.VerifyClientCertIfGiven
	return tc, nil
}

func extraCommands() []*cobra.Command { return []*cobra.Command{newPuppetDBCommand()} }

// handOver does nothing in the build with exported resources.
func handOver([]string) error { return nil }

type puppetdbOptions struct {
	listen   string
	ssldir   string
	certname string
	etcd     etcdOptions
}

func newPuppetDBCommand() *cobra.Command {
	o := &puppetdbOptions{}
	cmd := &cobra.Command{
		Use:   "puppetdb",
		Short: "Serve the PuppetDB API subset Puppet's terminus uses, backed by etcd",
		Long: `Serve, over HTTPS, the part of PuppetDB's API that Puppet's stock puppetdb terminus
uses (commands, resource queries, node facts), keeping exported resources in etcd.
Point puppetdb.conf's server_urls at it. The certificate is this host's Puppet
certificate, from --ssldir and --certname; clients presenting a certificate must
present one of the same CA.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8081", "address to serve HTTPS on")
	f.StringVar(&o.ssldir, "ssldir", "/var/lib/puppet/ssl", "Puppet's ssldir: certs/CERTNAME.pem, private_keys/CERTNAME.pem, certs/ca.pem")
	f.StringVar(&o.certname, "certname", "", "the certificate's name (default: the host name)")
	o.etcd.flags(f)
	return cmd
}

func (o *puppetdbOptions) run(ctx context.Context) error {
	tc, err := puppetServerTLS(o.ssldir, o.certname)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	etcd, err := o.etcd.open(ctx)
	if err != nil {
		return err
	}
	defer etcd.Close()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	logger := log.New(os.Stderr, "", log.LstdFlags)
	srv := &http.Server{Handler: puppetdb.Handler(etcd.Store(), logger), TLSConfig: tc,
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
	fmt.Fprintf(os.Stderr, "Notice: PuppetDB API on https://%s, exported resources in etcd\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
