//go:build exported

package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/collect"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/exported"
	"github.com/mgmt-puppet/mgmt-puppet/puppetlog"
)

// exportOptions are run's flags for exported and collected resources.
type exportOptions struct {
	etcd           etcdOptions
	embedded       bool
	puppetdbListen string
	api            apiOptions
	collectTypes   []string
	lease          time.Duration
}

func (o *exportOptions) flags(f *pflag.FlagSet) {
	o.etcd.flags(f)
	f.BoolVar(&o.embedded, "etcd-embedded", false, "start an embedded etcd member and collect live from it (also implied by --puppetdb-listen)")
	f.StringVar(&o.puppetdbListen, "puppetdb-listen", "", "serve the PuppetDB API (for the compiler's storeconfigs) on this address, backed by the embedded etcd")
	o.api.flags(f) // --ssldir, --certname, --certificate-*: for --puppetdb-listen
	f.StringSliceVar(&o.collectTypes, "collect-types", nil, "types that may be collected live (default: every type but Exec)")
	f.DurationVar(&o.lease, "export-lease", 0, "keep this node's exports only while it runs: they drop out of collections this long after it dies (0: they stay until deactivate_node)")
}

// live says whether the node collects live: an etcd is configured.
func (o *exportOptions) live() bool {
	return len(o.etcd.endpoints) > 0 || o.embedded || o.puppetdbListen != ""
}

func (o *exportOptions) allowed(typ string) bool {
	if len(o.collectTypes) == 0 {
		return typ != "Exec"
	}
	for _, t := range o.collectTypes {
		if strings.EqualFold(t, typ) {
			return true
		}
	}
	return false
}

// liveCollection is the etcd side of a run: the connection, the optional PuppetDB
// API, and the collector.
type liveCollection struct {
	lease     time.Duration
	etcd      *exported.Etcd
	api       *apiServer
	collector *collect.Collector
	unfollow  context.CancelFunc // ends the collector's cache of etcd, before etcd closes
}

// startLive connects to etcd (starting the embedded member if so configured),
// serves the PuppetDB API if asked, and returns the collector of cat.
func (o *exportOptions) startLive(ctx context.Context, cat *catalog.Catalog, log *puppetlog.Logger) (*liveCollection, error) {
	if len(o.etcd.endpoints) == 0 {
		if err := os.MkdirAll(filepath.Dir(o.etcd.dataDir), 0o700); err != nil {
			return nil, err
		}
	}
	etcd, err := o.etcd.open(ctx)
	if err != nil {
		return nil, err
	}
	l := &liveCollection{etcd: etcd}
	if o.puppetdbListen != "" {
		if err := l.serve(o, etcd); err != nil {
			l.close()
			return nil, err
		}
		log.Printf(engine.Notice, "PuppetDB API on https://%s, exported resources in etcd", o.puppetdbListen)
	}
	l.collector = &collect.Collector{Store: etcd.Store(), Catalog: cat, Allowed: o.allowed,
		Warnf: func(format string, args ...any) { log.Printf(engine.Warning, format, args...) }}
	return l, nil
}

func (l *liveCollection) serve(o *exportOptions, etcd *exported.Etcd) error {
	api, err := o.api.start(etcd, o.puppetdbListen, log.New(io.Discard, "", 0))
	if err != nil {
		return fmt.Errorf("--puppetdb-listen: %w", err)
	}
	l.api = api
	return nil
}

// begin connects to etcd when the flags ask for exported resources, and returns the
// catalog as the node's collectors answer now (cat itself without them). A run
// that will collect live (follow) starts its cache of etcd first, and builds from
// it, so that it reads the exports once.
func (o *exportOptions) begin(ctx context.Context, cat *catalog.Catalog, follow bool, log *puppetlog.Logger) (*liveCollection, *catalog.Catalog, error) {
	if !o.live() {
		return nil, cat, nil
	}
	l, err := o.startLive(ctx, cat, log)
	if err != nil {
		return nil, nil, err
	}
	l.lease = o.lease
	if follow {
		followCtx, cancel := context.WithCancel(ctx)
		l.unfollow = cancel
		if err := l.collector.Follow(followCtx); err != nil {
			log.Printf(engine.Warning, "Collecting: %v; applying the catalog as compiled", err)
			return l, cat, nil
		}
	}
	c, digest, err := l.collector.Build(ctx)
	if err != nil {
		log.Printf(engine.Warning, "Collecting: %v; applying the catalog as compiled", err)
		return l, cat, nil
	}
	l.collector.Start(digest)
	return l, c, nil
}

// keep collects live until ctx ends, applying changes with apply, and keeps the
// node's export lease alive.
func (l *liveCollection) keep(ctx context.Context, apply func(context.Context, *catalog.Catalog) error) {
	l.collector.Apply = apply
	go l.collector.Run(ctx)
	if err := l.etcd.Store().KeepAlive(ctx, l.collector.Catalog.Name, l.lease); err != nil {
		l.collector.Warnf("--export-lease: %v", err)
	}
}

func (l *liveCollection) close() {
	if l.unfollow != nil {
		l.unfollow()
	}
	if l.api != nil {
		_ = l.api.shutdown()
	}
	_ = l.etcd.Close()
}
