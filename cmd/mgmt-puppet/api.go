//go:build exported

package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
	"github.com/mgmt-puppet/mgmt-puppet/exported/puppetdb"
	"github.com/mgmt-puppet/mgmt-puppet/puppetssl"
)

// apiOptions say who may use the PuppetDB API: the TLS side comes from Puppet's
// ssldir, as PuppetDB's does after `puppetdb ssl-setup`.
type apiOptions struct {
	ssldir, certname string
	revocation       string
	allowlist        string
	httpListen       string // plain HTTP, loopback only; "" none
	primary          string // the site's PuppetDB to relay to; "" none

	reportTTL, nodeTTL, purgeTTL, gcInterval string
}

func (o *apiOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.ssldir, "ssldir", "/var/lib/puppet/ssl", "Puppet's ssldir: certs/ca.pem, crl.pem, certs/CERTNAME.pem, private_keys/CERTNAME.pem")
	f.StringVar(&o.certname, "certname", "", "the certificate's name (default: the host name)")
	f.StringVar(&o.revocation, "certificate-revocation", "chain", "check clients against the ssldir's crl.pem as Puppet does: chain, leaf or false")
	f.StringVar(&o.allowlist, "certificate-allowlist", "", "serve HTTPS only to the certnames in this file, one per line (PuppetDB's certificate-allowlist)")
	f.StringVar(&o.reportTTL, "report-ttl", "14d", "keep reports this long (PuppetDB's report-ttl)")
	f.StringVar(&o.nodeTTL, "node-ttl", "7d", "expire nodes that sent nothing this long: their exports are withdrawn (PuppetDB's node-ttl; 0 never)")
	f.StringVar(&o.purgeTTL, "node-purge-ttl", "14d", "forget nodes deactivated or expired this long (PuppetDB's node-purge-ttl; 0 never)")
	f.StringVar(&o.gcInterval, "gc-interval", "60m", "how often nodes are expired and purged (PuppetDB's gc-interval)")
}

// ttl reads a duration as PuppetDB's settings spell it (14d, 7d, 60m, 0s).
func ttl(name, s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days >= 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--%s %q: want a duration such as 14d, 12h or 60m", name, s)
	}
	return d, nil
}

// retention reads the TTL flags.
func (o *apiOptions) retention() (report, node, purge, interval time.Duration, err error) {
	for _, x := range []struct {
		name, value string
		to          *time.Duration
	}{{"report-ttl", o.reportTTL, &report}, {"node-ttl", o.nodeTTL, &node}, {"node-purge-ttl", o.purgeTTL, &purge},
		{"gc-interval", o.gcInterval, &interval}} {
		if *x.to, err = ttl(x.name, x.value); err != nil {
			return
		}
	}
	if report == 0 || interval == 0 {
		err = fmt.Errorf("--report-ttl and --gc-interval must be longer than 0")
	}
	return
}

// gc expires and purges nodes every interval until stop is closed.
func gc(store exported.Store, node, purge, interval time.Duration, logger *log.Logger, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		st, err := store.GC(ctx, time.Now(), node, purge)
		cancel()
		switch {
		case err != nil:
			logger.Printf("garbage collection: %v", err)
		case st.Expired > 0 || st.Purged > 0:
			logger.Printf("garbage collection: %d nodes expired, %d purged", st.Expired, st.Purged)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// check refuses a plain-HTTP listener beyond loopback before anything starts.
func (o *apiOptions) check() error {
	if o.httpListen == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(o.httpListen)
	if err != nil {
		return fmt.Errorf("--http-listen %s: %w", o.httpListen, err)
	}
	if !exported.Loopback(host) {
		return fmt.Errorf("--http-listen %s: plain HTTP is served on loopback only, as PuppetDB's [jetty] host is localhost; clients beyond this host use HTTPS with a certificate of the CA", o.httpListen)
	}
	return nil
}

// apiServer is the API on its listeners.
type apiServer struct {
	servers []*http.Server
	urls    []string
	errc    chan error // the first listener that fails
	stop    chan struct{}
	store   exported.Store
}

// start serves the API on etcd: HTTPS on httpsAddr, plain HTTP if asked, and
// collects the garbage every --gc-interval.
func (o *apiOptions) start(etcd *exported.Etcd, httpsAddr string, logger *log.Logger) (*apiServer, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	reportTTL, nodeTTL, purgeTTL, interval, err := o.retention()
	if err != nil {
		return nil, err
	}
	store := exported.NewStore(etcd.Client, reportTTL)
	certname := o.certname
	if certname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, err
		}
		certname = h
	}
	rev, err := puppetssl.ParseRevocation(o.revocation)
	if err != nil {
		return nil, fmt.Errorf("--certificate-revocation: %w", err)
	}
	ssl, err := puppetssl.NewServer(puppetssl.Dir{Path: o.ssldir, Certname: certname}, rev, logger.Printf)
	if err != nil {
		return nil, err
	}
	tc, err := ssl.Config()
	if err != nil {
		return nil, err
	}
	h := puppetdb.Handler(store, logger)
	if o.primary != "" {
		if h, err = o.relay(store, certname, rev, logger); err != nil {
			return nil, err
		}
	}
	if o.allowlist != "" {
		list, err := puppetdb.LoadAllowlist(o.allowlist, logger.Printf)
		if err != nil {
			return nil, fmt.Errorf("--certificate-allowlist: %w", err)
		}
		h = list.Wrap(h)
	}
	a := &apiServer{errc: make(chan error, 2), stop: make(chan struct{}), store: store}
	serve := func(addr string, tls bool) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		// Idle connections close, so that a client comes back through a new
		// handshake, which checks the CRL again.
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: logger}
		a.servers = append(a.servers, srv)
		if tls {
			srv.TLSConfig = tc
			a.urls = append(a.urls, "https://"+ln.Addr().String())
			go func() { a.failed(srv.ServeTLS(ln, "", "")) }()
		} else {
			a.urls = append(a.urls, "http://"+ln.Addr().String())
			go func() { a.failed(srv.Serve(ln)) }()
		}
		return nil
	}
	if err := serve(httpsAddr, true); err != nil {
		return nil, err
	}
	if o.httpListen != "" {
		if err := serve(o.httpListen, false); err != nil {
			a.shutdown()
			return nil, err
		}
	}
	go gc(store, nodeTTL, purgeTTL, interval, logger, a.stop)
	return a, nil
}

func (a *apiServer) failed(err error) {
	if !errors.Is(err, http.ErrServerClosed) {
		a.errc <- err
	}
}

// shutdown finishes the requests in flight, for at most 10 s.
func (a *apiServer) shutdown() error {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var first error
	for _, s := range a.servers {
		if err := s.Shutdown(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// relay is the API in front of the site's PuppetDB (--primary), reached with this
// host's certificate, the server checked as Puppet checks it.
func (o *apiOptions) relay(store exported.Store, certname string, rev puppetssl.Revocation, logger *log.Logger) (http.Handler, error) {
	u, err := url.Parse(o.primary)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("--primary %q: want https://HOST:PORT, as puppetdb.conf's server_urls", o.primary)
	}
	u.Path = ""
	c, err := puppetssl.NewClient(puppetssl.Dir{Path: o.ssldir, Certname: certname}, rev, logger.Printf)
	if err != nil {
		return nil, err
	}
	tc, err := c.Config()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16,
		ResponseHeaderTimeout: 10 * time.Minute, IdleConnTimeout: 90 * time.Second}
	return puppetdb.Relay(store, u, tr, logger), nil
}
