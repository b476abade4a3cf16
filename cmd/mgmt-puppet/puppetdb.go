//go:build exported

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
)

// etcdOptions choose the etcd underneath: embedded (default) or external.
type etcdOptions struct {
	name, seeds          string
	dataDir              string
	clientURL, peerURL   string
	endpoints            []string
	etcdCA, etcdCert, ek string
	etcdCRL              string
	allowPlaintext       bool
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
	f.StringVar(&o.etcdCRL, "etcd-crl", "", "etcd over TLS: refuse certificates this CRL file revokes (Puppet's crl.pem; followed as it changes)")
	f.BoolVar(&o.allowPlaintext, "etcd-allow-plaintext", false, "let the embedded etcd serve without TLS on an address beyond loopback (anyone who reaches it can write exports that nodes apply)")
}

func (o *etcdOptions) open(ctx context.Context) (*exported.Etcd, error) {
	if len(o.endpoints) == 0 {
		e, err := exported.Embedded(ctx, exported.EmbeddedConfig{Name: o.name, DataDir: o.dataDir, ClientURL: o.clientURL,
			PeerURL: o.peerURL, Seeds: o.seeds, CertFile: o.etcdCert, KeyFile: o.ek, CAFile: o.etcdCA, CRLFile: o.etcdCRL,
			AllowPlaintext: o.allowPlaintext})
		if errors.Is(err, exported.ErrPlaintext) {
			return nil, fmt.Errorf("%w; give --etcd-cert, --etcd-key, --etcd-cacert and https URLs, or --etcd-allow-plaintext", err)
		}
		return e, err
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

func extraCommands() []*cobra.Command { return []*cobra.Command{newPuppetDBCommand()} }

// handOver does nothing in the build with exported resources.
func handOver([]string) error { return nil }

type puppetdbOptions struct {
	listen string
	api    apiOptions
	etcd   etcdOptions
}

func newPuppetDBCommand() *cobra.Command {
	o := &puppetdbOptions{}
	cmd := &cobra.Command{
		Use:   "puppetdb",
		Short: "Serve the PuppetDB API subset Puppet's terminus uses, backed by etcd",
		Long: `Serve, over HTTPS, the part of PuppetDB's API that Puppet's stock puppetdb terminus
uses (commands, resource queries, node facts), keeping exported resources in etcd.
Point puppetdb.conf's server_urls at it. As PuppetDB, it presents this host's Puppet
certificate (--ssldir, --certname) and serves only clients that present a
certificate of the same CA, not revoked in the ssldir's crl.pem and, with
--certificate-allowlist, named in that file. Plain HTTP (--http-listen) is served
on loopback only.

With --primary, it stands in front of the site's own PuppetDB: every request goes
on to it and its answer comes back, so compiles, puppetdb_query, reports and
dashboards stay the site's PuppetDB's; the commands it accepts and the compiler's
collector queries are kept in etcd too, for live collection (docs/exported.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8081", "address to serve HTTPS on")
	o.api.flags(f)
	f.StringVar(&o.api.httpListen, "http-listen", "", "also serve plain HTTP on this loopback address (PuppetDB's [jetty] port, localhost:8080), for local tools")
	f.StringVar(&o.api.primary, "primary", "", "relay to the site's PuppetDB at this https URL: it answers every request; accepted commands and the compiler's collector queries are kept in etcd too")
	o.etcd.flags(f)
	return cmd
}

func (o *puppetdbOptions) run(ctx context.Context) error {
	logger := log.New(os.Stderr, "", log.LstdFlags)
	if err := o.api.check(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	etcd, err := o.etcd.open(ctx)
	if err != nil {
		return err
	}
	defer etcd.Close()
	api, err := o.api.start(etcd, o.listen, logger)
	if err != nil {
		return err
	}
	for _, u := range api.urls {
		fmt.Fprintf(os.Stderr, "Notice: PuppetDB API on %s, exported resources in etcd\n", u)
	}
	select {
	case err := <-api.errc:
		api.shutdown()
		return err
	case <-ctx.Done():
	}
	return api.shutdown()
}
