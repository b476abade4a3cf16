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
}

func (o *apiOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.ssldir, "ssldir", "/var/lib/puppet/ssl", "Puppet's ssldir: certs/ca.pem, crl.pem, certs/CERTNAME.pem, private_keys/CERTNAME.pem")
	f.StringVar(&o.certname, "certname", "", "the certificate's name (default: the host name)")
	f.StringVar(&o.revocation, "certificate-revocation", "chain", "check clients against the ssldir's crl.pem as Puppet does: chain, leaf or false")
	f.StringVar(&o.allowlist, "certificate-allowlist", "", "serve HTTPS only to the certnames in this file, one per line (PuppetDB's certificate-allowlist)")
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
}

// start serves the API on store: HTTPS on httpsAddr, plain HTTP if asked.
func (o *apiOptions) start(store exported.Store, httpsAddr string, logger *log.Logger) (*apiServer, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
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
	a := &apiServer{errc: make(chan error, 2)}
	serve := func(addr string, tls bool) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
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
	return a, nil
}

func (a *apiServer) failed(err error) {
	if !errors.Is(err, http.ErrServerClosed) {
		a.errc <- err
	}
}

// shutdown finishes the requests in flight, for at most 10 s.
func (a *apiServer) shutdown() error {
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
