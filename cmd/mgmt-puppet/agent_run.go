package main

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mgmt-puppet/mgmt-puppet/agent"
	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/delegate"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/puppetconf"
	"github.com/mgmt-puppet/mgmt-puppet/puppetlog"
	"github.com/mgmt-puppet/mgmt-puppet/puppetssl"
	"github.com/mgmt-puppet/mgmt-puppet/report"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

// agentRun is one run's state.
type agentRun struct {
	set       *puppetconf.Settings
	log       *runLog
	certname  string
	noop      bool
	envGiven  bool // on the command line
	waitGiven bool // --waitforcert given
	uuid      string
	server    *agent.Client
	servers   *servers
	// fileserver is the client of the fileserver service when SRV records put
	// it on another server than the run's (see files).
	fileserver *agent.Client
	// resubmitted: this run's facts were sent again (resubmit_facts), before
	// the daemon's next recorder took over its log.
	resubmitted bool
	// serverUsed is the server:port of the run, for its report;
	// noPluginsync says pluginsync is skipped (no server of server_list answered).
	serverUsed   string
	noPluginsync bool
	tls          *tls.Config
	httpOpts     agent.HTTPOptions
	phases       []report.Phase
	// retrieval is how long the last catalog request took.
	retrieval time.Duration
	// early is Facter started before the node request and pluginsync, its
	// facts used if pluginsync changed nothing; nil once used or dropped.
	early *earlyFacts
	// abort ends when the run has taken runtimeout (never when it is 0); outer is
	// the context of what follows a run even then: postrun_command and the report.
	// endLimit stops runtimeout's watch (pastLimit).
	abort, outer context.Context
	endLimit     context.CancelFunc
}

// once makes one agent run and returns its detailed exit code, or -1 when the run
// did not apply a catalog.
func (o *agentOptions) once(ctx context.Context, set *puppetconf.Settings, ro *runOptions, log *puppetlog.Logger) (int, error) {
	if disabled, err := skipDisabled(set, log); err != nil || disabled {
		return -1, err
	}
	if err := splay(ctx, set, log); err != nil {
		return -1, err
	}
	r := &agentRun{set: set, log: &runLog{Logger: log}, certname: strings.ToLower(set.String("certname")), uuid: newUUID(),
		envGiven: o.flags.Changed("environment"), waitGiven: o.flags.Changed("waitforcert")}
	var err error
	if r.noop, err = set.Bool("noop"); err != nil {
		return -1, err
	}
	if r.httpOpts, err = r.httpOptions(); err != nil {
		return -1, err
	}
	r.servers = newServers(r)
	tlsConf, err := r.ssl(ctx)
	if errors.Is(err, agent.ErrNotSigned) || noRoute(err, r.log) {
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	lock, err := lockRun(ctx, set, log)
	if err != nil || lock == nil {
		return -1, err
	}
	defer lock.Unlock()
	r.tls = tlsConf
	if err := r.connect(ctx); err != nil {
		log.Printf(engine.Err, "Could not run Puppet configuration client: %v", err)
		return -1, nil
	}
	defer r.closeClients()
	runCtx, stop, err := r.limit(ctx)
	if err != nil {
		return -1, err
	}
	defer stop()
	code, err := r.apply(ctx, runCtx, ro)
	if r.timedOut() {
		return -1, err
	}
	return code, err
}

// limit starts the run's runtimeout, as puppet agent's Timeout around the
// configurer: the run's context ends with ctx or at runtimeout, r.abort at
// runtimeout only (the engine's work in flight is cancelled then, not on SIGTERM).
func (r *agentRun) limit(ctx context.Context) (context.Context, context.CancelFunc, error) {
	timeout, err := r.set.Duration("runtimeout")
	if err != nil {
		return nil, nil, err
	}
	abort, cancelAbort := context.WithCancel(context.Background())
	if timeout > 0 {
		abort, cancelAbort = context.WithTimeoutCause(context.Background(), timeout, errExpired)
	}
	r.abort, r.outer, r.endLimit = abort, ctx, cancelAbort
	run, cancelRun := context.WithCancel(ctx)
	unhook := context.AfterFunc(abort, cancelRun)
	return run, func() { unhook(); cancelRun(); cancelAbort() }, nil
}

// pastLimit says the run is past what runtimeout bounds: whatever expired stays
// so, and postrun_command and the report, which follow, are not cut short, so
// the report and the exit code agree.
func (r *agentRun) pastLimit() {
	if r.endLimit != nil {
		r.endLimit()
	}
}

// expired says whether the run reached runtimeout.
func (r *agentRun) expired() bool {
	return r.abort != nil && context.Cause(r.abort) == errExpired
}

// errExpired is the cause of a run's end at runtimeout: the message of the
// exception Ruby's Timeout raises, which Puppet gives the change it interrupts.
var errExpired = errors.New("execution expired")

// timedOut says whether the run reached runtimeout, and then logs it as Puppet
// does once the report is sent: in no report.
func (r *agentRun) timedOut() bool {
	if !r.expired() {
		return false
	}
	timeout, _ := r.set.Duration("runtimeout")
	r.log.Logger.Printf(engine.Err, "Execution of Puppet configuration client did not complete within %d seconds and was terminated.", int64(timeout/time.Second))
	return true
}

// connect makes the client of the run's server (server_list asked again).
func (r *agentRun) connect(ctx context.Context) error {
	r.servers.next()
	r.resubmitted = false
	url, used, sync, err := r.servers.puppet(ctx, r.tls)
	if err != nil {
		return err
	}
	if r.server != nil {
		r.server.Close()
	}
	if r.fileserver != nil {
		r.fileserver.Close()
		r.fileserver = nil
	}
	r.server = agent.NewClient(url, r.tls, r.httpOpts)
	r.server.Log = r.log
	r.serverUsed, r.noPluginsync = used, !sync
	return nil
}

// closeClients closes the clients of the run's services.
func (r *agentRun) closeClients() {
	if r.server != nil {
		r.server.Close()
	}
	if r.fileserver != nil {
		r.fileserver.Close()
	}
}

// files is the client of the fileserver service (pluginsync, puppet:///
// sources): the run's server, but with use_srv_records, the first target of
// _x-puppet-fileserver's records that takes a connection, when there are any.
func (r *agentRun) files(ctx context.Context) *agent.Client {
	c, ok := r.servers.srv(ctx, "fileserver", r.tls)
	if !ok {
		return r.server
	}
	url := serviceURL(c.Host, c.Port)
	if url == r.server.Base() {
		return r.server
	}
	if r.fileserver == nil || r.fileserver.Base() != url {
		r.fileserver = agent.NewClient(url, r.tls, r.httpOpts)
		r.fileserver.Log = r.log
	}
	return r.fileserver
}

// noRoute says, as Puppet's SSL bootstrap says twice, that no route to a
// service is left (the CA down, or no server of server_list answering).
func noRoute(err error, log agent.Logger) bool {
	var route *agent.RouteError
	if !errors.As(err, &route) {
		return false
	}
	log.Printf(engine.Err, "%v", route)
	log.Printf(engine.Err, "%v", route)
	return true
}

// skipDisabled says whether agent_disabled.lock (puppet agent --disable) is
// there, with Puppet's notice when it is.
func skipDisabled(set *puppetconf.Settings, log agent.Logger) (bool, error) {
	reason, disabled, err := agent.Disabled(set.String("agent_disabled_lockfile"))
	if disabled {
		log.Printf(engine.Notice, "Skipping run of Puppet configuration client; administratively disabled (Reason: '%s');\nUse 'puppet agent --enable' to re-enable.", reason)
	}
	return disabled, err
}

// lockRun takes agent_catalog_run.lock; nil when another run holds it and
// waitforlock does not wait for it (waitLock).
func lockRun(ctx context.Context, set *puppetconf.Settings, log agent.Logger) (*agent.Pidlock, error) {
	var lock *agent.Pidlock
	ok, err := waitLock(ctx, set, log, func() (err error) {
		lock, err = agent.LockRun(set.String("agent_catalog_run_lockfile"))
		return err
	})
	if !ok {
		return nil, err
	}
	return lock, nil
}

// waitLock calls take until it takes the run lock, as Puppet's agent: when
// another run holds it, with waitforlock 0 it says so and gives up; else it tries
// again every waitforlock until maxwaitforlock has passed. False when the lock
// was not taken; the error is take's other errors.
func waitLock(ctx context.Context, set *puppetconf.Settings, log agent.Logger, take func() error) (bool, error) {
	wait, err := set.Duration("waitforlock")
	if err != nil {
		return false, err
	}
	maxWait, err := set.Duration("maxwaitforlock")
	if err != nil {
		return false, err
	}
	var deadline time.Time // set at the first refusal
	for {
		err := take()
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, agent.ErrLocked) {
			return false, err
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(maxWait)
		}
		switch {
		case wait < time.Second:
			log.Printf(engine.Notice, "Run of Puppet configuration client already in progress; skipping  (%s exists)", set.String("agent_catalog_run_lockfile"))
			return false, nil
		case maxWait != puppetconf.Unlimited && !now.Before(deadline):
			log.Printf(engine.Notice, "Exiting now because the maxwaitforlock timeout has been exceeded.")
			return false, nil
		}
		log.Printf(engine.Info, "Another puppet instance is already running; --waitforlock flag used, waiting for running instance to finish.")
		log.Printf(engine.Info, "Will try again in %d seconds.", int(wait.Seconds()))
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(wait):
		}
	}
}

// serviceURL is https://host:port, with IPv6 addresses bracketed.
func serviceURL(host, port string) string {
	return "https://" + net.JoinHostPort(host, port)
}

func (r *agentRun) httpOptions() (agent.HTTPOptions, error) {
	c, err := r.set.Duration("http_connect_timeout")
	if err != nil {
		return agent.HTTPOptions{}, err
	}
	rd, err := r.set.Duration("http_read_timeout")
	if err != nil {
		return agent.HTTPOptions{}, err
	}
	ri, err := r.set.Duration("runinterval")
	if err != nil {
		return agent.HTTPOptions{}, err
	}
	port, err := r.set.Int("http_proxy_port")
	if err != nil {
		return agent.HTTPOptions{}, err
	}
	proxy := agent.NewProxy(os.LookupEnv, agent.ProxySettings{Host: r.set.String("http_proxy_host"), Port: port,
		User: r.set.String("http_proxy_user"), Password: r.set.String("http_proxy_password"), NoProxy: r.set.String("no_proxy")})
	return agent.HTTPOptions{Connect: c, Read: rd, RetryAfter: ri, Proxy: proxy}, nil
}

// splay waits a random time up to splaylimit when splay is set, once, as a
// onetime puppet agent does.
func splay(ctx context.Context, set *puppetconf.Settings, log *puppetlog.Logger) error {
	on, err := set.Bool("splay")
	if err != nil || !on {
		return err
	}
	limit, err := set.Duration("splaylimit")
	if err != nil {
		return err
	}
	d := time.Duration(rand.Int63n(int64(limit/time.Second)+1)) * time.Second
	log.Printf(engine.Info, "Sleeping for %d seconds (splay is enabled)", int(d.Seconds()))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// ssl makes sure of the node's certificate and returns the client TLS configuration.
func (r *agentRun) ssl(ctx context.Context) (*tls.Config, error) {
	set := r.set
	mode, err := puppetssl.ParseRevocation(set.String("certificate_revocation"))
	if err != nil {
		return nil, fmt.Errorf("certificate_revocation: %w", err)
	}
	wait, err := set.Duration("waitforcert")
	if err != nil {
		return nil, err
	}
	if onetime, _ := set.Bool("onetime"); onetime && !r.waitGiven {
		wait = 0 // a one-time run does not wait for its certificate unless told to
	}
	maxWait, err := set.Duration("maxwaitforcert")
	if err != nil {
		return nil, err
	}
	keyLength, err := set.Int("keylength")
	if err != nil {
		return nil, err
	}
	crlRefresh, err := set.Duration("crl_refresh_interval")
	if err != nil {
		return nil, err
	}
	if crlRefresh == puppetconf.Unlimited { // unset: never refreshed
		crlRefresh = 0
	}
	s := agent.SSL{
		Dir:           puppetssl.Dir{Path: set.String("ssldir"), Certname: r.certname, Passfile: set.String("passfile")},
		ResolveCA:     r.servers.ca,
		Revocation:    mode,
		KeyType:       set.String("key_type"),
		KeyLength:     keyLength,
		Curve:         set.String("named_curve"),
		Fingerprint:   set.String("ca_fingerprint"),
		CSRAttributes: set.String("csr_attributes"), DNSAltNames: set.String("dns_alt_names"), CRLRefresh: crlRefresh,
		WaitForCert: wait, MaxWait: maxWait,
		HTTPOptions: r.httpOpts,
		Log:         r.log,
		Stdout:      os.Stdout,
	}
	return s.Ensure(ctx)
}

// prepared is a run's catalog, fetched and translated.
type prepared struct {
	header report.Run
	res    *translate.Result
	env    string
}

// prepare makes a run up to the graph: environment, pluginsync, facts, catalog
// (cached), sources, translation, recording into rec from the start, as Puppet's
// report keeps every line of the run. Without a catalog to apply it has reported
// the failed run and returns nil.
func (r *agentRun) prepare(ctx context.Context, ro *runOptions, runner *delegate.Runner, rec *report.Recorder) (*prepared, error) {
	set := r.set
	r.uuid, r.phases, r.retrieval = newUUID(), nil, 0
	rec.Begin()
	r.log.rec.Store(rec)
	// use_cached_catalog: the cached catalog, without asking the server for the
	// environment, pluginsync or a catalog; none cached is a run as any other,
	// but for the cache on failure.
	var explicitRaw []byte
	var explicit *catalog.Catalog
	useCached, err := set.Bool("use_cached_catalog")
	if err != nil {
		return nil, err
	}
	if useCached {
		if explicitRaw, explicit = r.cachedCatalog(); explicit != nil {
			r.log.Printf(engine.Info, "Using cached catalog from environment '%s'", explicit.Environment)
		}
	}
	var env, initial string
	if explicit != nil {
		env = set.String("environment")
		initial = env
		if !r.strictEnvironment() && explicit.Environment != "" && explicit.Environment != env {
			r.log.Printf(engine.Notice, "Local environment: '%s' doesn't match the environment of the cached catalog '%s', switching agent to '%s'.", env, explicit.Environment, explicit.Environment)
			env = explicit.Environment
		}
	} else {
		if !r.noPluginsync {
			r.early = r.startFacts(ctx)
			defer r.dropEarlyFacts()
		}
		env, initial = r.environment(ctx)
	}
	header := report.Run{Host: r.certname, Environment: env, InitialEnvironment: initial, Noop: r.noop,
		RunMode: "agent", TransactionUUID: r.uuid, ServerUsed: r.serverUsed}
	failed := func() (*prepared, error) {
		header.Environment, header.Phases = env, r.phases
		rec.SetRun(header)
		rec.Incomplete()
		r.pastLimit()
		ensure := ctx
		if r.outer != nil {
			ensure = r.outer
		}
		r.runSetting(ensure, "postrun_command")
		r.finish(ensure, rec, env)
		return nil, nil
	}
	if r.expired() {
		return failed()
	}
	r.log.Printf(engine.Info, "Using environment '%s'", env)
	var raw []byte
	var cat *catalog.Catalog
	var cached string
	if explicit != nil {
		// Facts are gathered all the same, as Puppet gathers them.
		if _, ferr := r.facts(ctx); ferr != nil {
			r.log.Printf(engine.Err, "Could not retrieve local facts: %v", ferr)
		}
		raw, cat, cached = explicitRaw, explicit, "explicitly_requested"
	} else {
		synced := r.noPluginsync
		if !synced {
			var abort error
			synced, abort = r.pluginsync(ctx, env)
			if r.expired() {
				return failed()
			}
			if abort != nil {
				// Raised in Puppet's run, which reports it and ends.
				r.log.Printf(engine.Err, "Failed to apply catalog: %v", abort)
				return failed()
			}
		}
		raw, cat, cached, err = r.catalog(ctx, &env, synced, useCached)
	}
	if errors.Is(err, errNotUsed) || r.expired() {
		return failed()
	}
	if err != nil {
		r.log.Printf(engine.Err, "Could not run: %v", err)
		return failed()
	}
	if cat == nil {
		r.log.Printf(engine.Err, "Could not retrieve catalog; skipping run")
		return failed()
	}
	header.Environment, header.CachedCatalogStatus = env, cached
	header.ConfigurationVersion, header.CatalogUUID, header.CodeID = cat.Version, cat.CatalogUUID, cat.CodeID
	// puppet:/// sources come from the server, into a copy laid out as a
	// module path (and one of its other mounts) that the Files read. The Files
	// whose sources could not be had fail on their own, as in Puppet.
	sources := agentSources(set.String("vardir")).In(cat.Environment)
	n, unavailable := agent.SyncSources(ctx, r.files(ctx), cat, cat.Environment, sources.Dirs[0])
	if r.expired() {
		return failed()
	}
	if n > 0 {
		r.log.Printf(engine.Debug, "%d files of the sources changed on the server", n)
	}
	showDiff, err := set.Bool("show_diff")
	if err != nil {
		r.log.Printf(engine.Err, "Could not run: %v", err)
		return failed()
	}
	opts := translate.Options{Tags: set.List("tags"), SkipTags: set.List("skip_tags"), Noop: r.noop, ShowDiff: showDiff,
		ModulePath: sources.Dirs, Mounts: sources.Mounts, UnavailableSources: unavailable,
		Delegate: runner, DelegateTypes: ro.delegate.types}
	converting := time.Now()
	res, err := translateCatalog(cat, "from "+set.String("server"), opts, os.Stdout, os.Stderr)
	if err != nil {
		return failed()
	}
	// Cached once it could be used, as Puppet caches it after its conversion: a
	// catalog from the server, or one use_cached_catalog asked for (Puppet
	// writes it again), not one used because the server gave none.
	if cached != "on_failure" && !r.noop {
		r.log.Printf(engine.Info, "Caching catalog for %s", r.certname)
		if err := replaceFileData(r.cacheFile(), raw, 0o640); err != nil {
			r.log.Printf(engine.Err, "Could not cache the catalog: %v", err)
		}
	}
	// As Puppet's times: config_retrieval is the catalog request, convert_catalog
	// its translation.
	header.ConfigRetrieval = r.retrieval
	header.Phases = append(r.phases, report.Phase{Name: "convert_catalog", Duration: time.Since(converting)})
	rec.SetRun(header)
	rec.Skipped(skipped(res))
	return &prepared{header: header, res: res, env: env}, nil
}

// skipped are the vertices the tags leave out: the report lists them as skipped.
func skipped(res *translate.Result) []*engine.Vertex {
	var out []*engine.Vertex
	for _, v := range res.Graph.Vertices() {
		if v.Skip {
			out = append(out, v)
		}
	}
	return out
}

// apply makes one run: the catalog applied once, and reported. The run works
// under runCtx; postrun_command and the report, which Puppet runs in an ensure
// block, under ctx, so that they follow a run that reached runtimeout.
func (r *agentRun) apply(ctx, runCtx context.Context, ro *runOptions) (int, error) {
	runner := ro.delegate.runner(nil, r.set.String("plugindest"), agentSources(r.set.String("vardir")))
	if runner != nil {
		defer runner.Close()
	}
	rec := report.NewRecorder(report.Run{Host: r.certname, RunMode: "agent", Noop: r.noop}, ro.level())
	p, err := r.prepare(runCtx, ro, runner, rec)
	if err != nil || p == nil {
		return -1, err
	}
	if !r.runSetting(runCtx, "prerun_command") {
		rec.Incomplete()
		r.pastLimit()
		r.runSetting(ctx, "postrun_command")
		r.finish(ctx, rec, p.env)
		return -1, nil
	}
	r.log.Printf(engine.Info, "Applying configuration version '%s'", p.header.ConfigurationVersion)
	eng, err := engine.New(engine.Config{Parallelism: ro.parallelism, Noop: r.noop, Observer: observers{r.log, rec},
		FightRepairs: fightRepairs(ro.fightAfter), Abort: r.abort})
	if err != nil {
		return -1, err
	}
	result, err := eng.Run(runCtx, p.res.Graph)
	r.pastLimit()
	if err != nil || r.expired() {
		rec.Incomplete()
		r.runSetting(ctx, "postrun_command")
		r.finish(ctx, rec, p.env)
		return -1, err
	}
	postrun := r.runSetting(ctx, "postrun_command")
	r.finish(ctx, rec, p.env)
	if !postrun {
		return -1, nil
	}
	return exitCode(result), nil
}

func (r *agentRun) cacheFile() string {
	return filepath.Join(r.set.String("client_datadir"), "catalog", r.certname+".json")
}

// pluginsync copies the server's pluginfacts and plugins (the facts.d and lib
// folders of env's modules) where puppet agent keeps them, so that Facter finds
// the custom facts and Puppet, running the types without a native
// implementation, the modules' types.
func (r *agentRun) pluginsync(ctx context.Context, env string) (synced bool, abort error) {
	start := time.Now()
	defer func() { r.phases = append(r.phases, report.Phase{Name: "plugin_sync", Duration: time.Since(start)}) }()
	// A failed pluginsync stops the run (facts and types would be missing),
	// unless ignore_plugin_errors says otherwise, as in Puppet.
	ignore, _ := r.set.Bool("ignore_plugin_errors")
	exists, err := r.files(ctx).EnvironmentExists(ctx, env)
	if r.expired() {
		return false, nil // the run ends, without a line
	}
	if err != nil {
		// Puppet's probe of the environment: a failure skips pluginsync, and
		// the run goes on.
		r.log.Printf(engine.Err, "%v", err)
		return true, nil
	}
	if !exists {
		if r.strictEnvironment() {
			return false, fmt.Errorf("Environment '%s' not found on server, aborting run.", env)
		}
		r.log.Printf(engine.Notice, "Environment '%s' not found on server, skipping initial pluginsync.", env)
		return true, nil
	}
	for _, m := range []struct{ mount, name, dest string }{
		{"pluginfacts", "pluginfacts", r.set.String("pluginfactdest")},
		{"plugins", "plugin", r.set.String("plugindest")},
	} {
		r.log.Printf(engine.Info, "Retrieving %s", m.name)
		changes, err := agent.Pluginsync(ctx, r.files(ctx), m.mount, env, m.dest)
		if len(changes) > 0 || err != nil {
			// Facter may read what changed: the facts started early are not
			// those of the synced plugins.
			r.dropEarlyFacts()
		}
		for _, c := range changes {
			r.log.Printf(engine.Notice, "/File[%s]/%s", c.Path, c.Message)
		}
		if r.expired() {
			return false, nil
		}
		if err != nil {
			if !ignore {
				r.log.Printf(engine.Err, "Failed to retrieve %s: %v", m.name, err)
				return false, nil
			}
			r.log.Printf(engine.Err, "Could not retrieve %s: %v", m.name, err)
		}
	}
	return true, nil
}

// strictEnvironment is strict_environment_mode (a boolean puppetconf has checked).
func (r *agentRun) strictEnvironment() bool {
	strict, _ := r.set.Bool("strict_environment_mode")
	return strict
}

// environment decides the run's environment as puppet agent does, and returns it
// with the one the run began in: the command line's; else, when the last run's
// summary was an agent's, the environment it converged to; else the server's
// answer to a node request.
func (r *agentRun) environment(ctx context.Context) (env, initial string) {
	env = r.set.String("environment")
	if r.envGiven || r.strictEnvironment() {
		return env, env
	}
	if initial, converged, ok := lastEnvironment(r.set.String("lastrunfile")); ok {
		if use, err := r.set.Bool("use_last_environment"); err == nil && use {
			// The last agent run's summary: the environment the server switched
			// it to, if it did; else the configured one. No node request.
			if converged != initial {
				return converged, env
			}
			return env, env
		}
	}
	asked := time.Now()
	node, err := r.server.NodeEnvironment(ctx, r.certname, env, env, r.uuid)
	r.phases = append(r.phases, report.Phase{Name: "node_retrieval", Duration: time.Since(asked)})
	if err != nil {
		if r.expired() {
			return env, env // prepare ends the run, quietly as Puppet's Timeout does
		}
		r.log.Printf(engine.Warning, "Unable to fetch my node definition, but the agent run will continue:")
		r.log.Printf(engine.Warning, "%v", err)
		return env, env
	}
	if node != "" && node != env {
		r.log.Printf(engine.Notice, "Local environment: '%s' doesn't match server specified node environment '%s', switching agent to '%s'.", env, node, node)
		return node, env
	}
	return env, env
}

// catalog fetches the catalog (facts first), following the server to another
// environment up to 4 times; on failure, the cache when usecacheonfailure says
// so. cached is the report's cached_catalog_status ("" when not used).
func (r *agentRun) catalog(ctx context.Context, env *string, synced, noCache bool) (raw []byte, cat *catalog.Catalog, cached string, err error) {
	if synced {
		for tries := 0; ; tries++ {
			raw, cat, err = r.fetch(ctx, *env)
			if err != nil && r.expired() {
				return nil, nil, "", nil // no line and no cache: the run ends
			}
			if fe := (factsError{}); errors.As(err, &fe) {
				// No facts, no catalog, and no cache either: Puppet stops here.
				r.log.Printf(engine.Err, "Could not retrieve local facts: %v", err)
				return nil, nil, "", nil
			}
			if err != nil {
				r.log.Printf(engine.Err, "Could not retrieve catalog from remote server: %v", err)
				break
			}
			if cat.Environment == "" || cat.Environment == *env {
				return raw, cat, "", nil
			}
			if r.strictEnvironment() {
				r.log.Printf(engine.Err, "Not using catalog because its environment '%s' does not match agent specified environment '%s' and strict_environment_mode is set", cat.Environment, *env)
				return nil, nil, "", errNotUsed
			}
			if tries > 3 {
				return nil, nil, "", fmt.Errorf("Catalog environment didn't stabilize after %d fetches, aborting run", tries)
			}
			r.log.Printf(engine.Notice, "Local environment: '%s' doesn't match server specified environment '%s', restarting agent run with environment '%s'", *env, cat.Environment, cat.Environment)
			*env = cat.Environment
			// The environment is the server's here (no strict mode): nothing aborts.
			if synced, _ := r.pluginsync(ctx, *env); !synced {
				break
			}
		}
	}
	use, berr := r.set.Bool("usecacheonfailure")
	if berr != nil {
		return nil, nil, "", berr
	}
	if !use || noCache {
		r.log.Printf(engine.Warning, "Not using cache on failed catalog")
		return nil, nil, "", nil
	}
	data, c := r.cachedCatalog()
	if c == nil {
		return nil, nil, "", nil
	}
	if c.Environment != *env {
		r.log.Printf(engine.Err, "Not using cached catalog because its environment '%s' does not match '%s'", c.Environment, *env)
		return nil, nil, "", nil
	}
	r.log.Printf(engine.Info, "Using cached catalog from environment '%s'", c.Environment)
	return data, c, "on_failure", nil
}

// cachedCatalog reads the catalog cached by the last run that fetched one; nil
// when there is none, or it cannot be read (said as Puppet says it).
func (r *agentRun) cachedCatalog() ([]byte, *catalog.Catalog) {
	data, err := os.ReadFile(r.cacheFile())
	if err != nil {
		return nil, nil
	}
	c, err := catalog.Parse(strings.NewReader(string(data)))
	if err != nil {
		r.log.Printf(engine.Err, "Could not retrieve catalog from cache: %v", err)
		return nil, nil
	}
	return data, c
}

// errNotUsed says the catalog was refused, and the run ends without more words.
var errNotUsed = errors.New("catalog not used")

// factsError says Facter gave no facts.
type factsError struct{ error }

// fetch gathers facts and asks the server for the catalog of env.
func (r *agentRun) fetch(ctx context.Context, env string) ([]byte, *catalog.Catalog, error) {
	set := r.set
	wire, err := r.facts(ctx)
	if err != nil {
		return nil, nil, err
	}
	asked := time.Now()
	raw, err := r.server.Catalog(ctx, agent.CatalogRequest{Certname: r.certname, Environment: env,
		Configured: set.String("environment"), TransactionID: r.uuid}, wire)
	r.retrieval = time.Since(asked)
	if err != nil {
		return nil, nil, err
	}
	cat, err := catalog.Parse(strings.NewReader(string(raw)))
	if err != nil {
		return nil, nil, fmt.Errorf("the server's catalog: %w", err)
	}
	return raw, cat, nil
}

// facts gathers the node's facts, as the catalog request sends them; the error
// is a factsError when Facter gave none.
func (r *agentRun) facts(ctx context.Context) ([]byte, error) {
	t := time.Now()
	e := r.early
	r.early = nil
	facts, err := r.findFacts(ctx, e)
	if err != nil {
		return nil, factsError{err}
	}
	r.phases = append(r.phases, report.Phase{Name: "fact_generation", Duration: time.Since(t)})
	return facts.JSON()
}

// findFacts gathers the facts as Puppet's facts terminus finds them: custom
// facts come from factpath ($vardir/lib/facter, where pluginsync puts the
// modules' lib/facter), and Puppet says "Loading facts" for each folder there;
// Facter runs (or early's run, started before, is taken), its messages are
// logged as Puppet's own (Puppet runs Facter in its process), and stdlib's
// facts of Puppet's settings are set.
func (r *agentRun) findFacts(ctx context.Context, early *earlyFacts) (*agent.Facts, error) {
	custom := r.customFactDirs()
	for range custom {
		r.log.Printf(engine.Info, "Loading facts")
	}
	var g gathered
	if early != nil {
		g = <-early.done
		early.cancel()
	} else {
		g = r.gatherFacts(ctx, custom)
	}
	for _, m := range agent.FacterMessages(g.stderr) {
		level := map[string]engine.Level{"ERROR": engine.Err, "WARN": engine.Warning, "INFO": engine.Info}[m.Level]
		if m.Level == "DEBUG" {
			level = engine.Debug
		}
		r.log.Printf(level, "Facter: %s", m.Message)
	}
	if g.err != nil {
		return nil, g.err
	}
	puppetSettingsFacts(g.facts.Values, custom, r.set)
	return g.facts, nil
}

// resubmitFacts gathers the facts again and stores them on the server, as puppet
// agent does at the end of every run when resubmit_facts is set, so that what
// the run changed (a package's version fact...) reaches the server and PuppetDB
// before the next run. Its time is the report's resubmit_facts.
func (r *agentRun) resubmitFacts(ctx context.Context, rec *report.Recorder, env string) {
	if on, err := r.set.Bool("resubmit_facts"); err != nil || !on || r.server == nil || r.resubmitted {
		return
	}
	r.resubmitted = true
	start := time.Now()
	defer func() { rec.AddPhase(report.Phase{Name: "resubmit_facts", Duration: time.Since(start)}) }()
	facts, err := r.findFacts(ctx, nil)
	if err != nil {
		r.log.Printf(engine.Err, "Failed to submit facts: Could not retrieve local facts: %v", err)
		return
	}
	body, err := facts.JSON()
	if err == nil {
		host := r.server.Base()
		if u, perr := url.Parse(host); perr == nil {
			host = u.Hostname()
		}
		r.log.Printf(engine.Info, "Uploading facts for %s to %s", r.certname, host)
		err = r.server.PutFacts(ctx, r.certname, env, body)
	}
	if err != nil {
		r.log.Printf(engine.Err, "Failed to submit facts: %v", err)
	}
}

// customFactDirs are the folders of factpath that exist.
func (r *agentRun) customFactDirs() []string {
	var custom []string
	for _, d := range filepath.SplitList(r.set.String("factpath")) {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			custom = append(custom, d)
		}
	}
	return custom
}

// gathered is what one Facter run gave.
type gathered struct {
	facts  *agent.Facts
	stderr []byte
	err    error
}

// gatherFacts runs Facter with the custom fact folders custom and the
// pluginfacts.
func (r *agentRun) gatherFacts(ctx context.Context, custom []string) gathered {
	interval, err := r.set.Duration("runinterval")
	if err != nil {
		return gathered{err: err}
	}
	specified := ""
	if r.envGiven {
		specified = r.set.String("environment")
	}
	facts, stderr, err := agent.GatherFacts(ctx, r.certname, r.noop, specified, agent.FactOptions{
		ExternalDir: []string{r.set.String("pluginfactdest")},
		CustomDir:   custom,
	}, interval)
	return gathered{facts, stderr, err}
}

// earlyFacts is a Facter run started before the node request and pluginsync,
// which take a few tenths of a second of the run that Facter (seconds, most of
// a run) can use. Its facts are those a run after pluginsync would gather as
// long as pluginsync changes none of the plugins and pluginfacts that Facter
// reads; when it changes any, they are dropped and Facter runs again.
type earlyFacts struct {
	cancel context.CancelFunc
	done   chan gathered
}

func (r *agentRun) startFacts(ctx context.Context) *earlyFacts {
	ctx, cancel := context.WithCancel(ctx)
	e := &earlyFacts{cancel: cancel, done: make(chan gathered, 1)}
	custom := r.customFactDirs()
	go func() { e.done <- r.gatherFacts(ctx, custom) }()
	return e
}

// dropEarlyFacts stops the early Facter run, if any is left, and waits for it.
func (r *agentRun) dropEarlyFacts() {
	if e := r.early; e != nil {
		r.early = nil
		e.cancel()
		<-e.done
	}
}

// finish sends the facts again (resubmit_facts), writes last_run_summary.yaml and
// last_run_report.yaml, then sends the report, as puppet agent does (the summary
// first, whatever the sending gives).
func (r *agentRun) finish(ctx context.Context, rec *report.Recorder, env string) {
	r.resubmitFacts(ctx, rec, env)
	set := r.set
	if err := replaceFileMode(set.String("lastrunfile"), 0o640, func(w io.Writer) error { return rec.WriteSummary(w) }); err != nil {
		r.log.Printf(engine.Err, "Could not save last run local report: %v", err)
	}
	send, err := set.Bool("report")
	if err != nil || !send {
		return
	}
	if err := replaceFileMode(set.String("lastrunreport"), 0o640, rec.WriteYAML); err != nil {
		r.log.Printf(engine.Err, "Could not save last run local report: %v", err)
	}
	var body strings.Builder
	if err := rec.WriteJSON(&body); err != nil {
		r.log.Printf(engine.Err, "Could not send report: %v", err)
		return
	}
	c := agent.NewClient(r.servers.report(ctx), r.tls, r.httpOpts)
	c.Log = r.log
	defer c.Close()
	if _, err := c.Report(ctx, r.certname, env, []byte(body.String())); err != nil && !agent.NotFound(err) {
		r.log.Printf(engine.Err, "Could not send report: %v", err)
	}
}

// lastEnvironment reads the environments of the last run's summary, when an
// agent run wrote it.
func lastEnvironment(file string) (initial, converged string, ok bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", "", false
	}
	var sum struct {
		Application struct {
			RunMode   string `yaml:"run_mode"`
			Initial   string `yaml:"initial_environment"`
			Converged string `yaml:"converged_environment"`
		} `yaml:"application"`
	}
	if yaml.Unmarshal(data, &sum) != nil || sum.Application.RunMode != "agent" {
		return "", "", false
	}
	return sum.Application.Initial, sum.Application.Converged, true
}

// newUUID is a random (version 4) UUID: the run's transaction_uuid.
func newUUID() string {
	var b [16]byte
	if _, err := crand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// replaceFileData replaces path with data, durably, creating its directory.
func replaceFileData(path string, data []byte, mode os.FileMode) error {
	return replaceFileMode(path, mode, func(w io.Writer) error { _, err := w.Write(data); return err })
}

// replaceFileMode is replaceFile with the file's mode, creating its directory.
func replaceFileMode(path string, mode os.FileMode, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return replaceFile(path, func(w io.Writer) error {
		if f, ok := w.(*os.File); ok {
			if err := f.Chmod(mode); err != nil {
				return err
			}
		}
		return write(w)
	})
}

// runSetting runs the command of prerun_command or postrun_command as Puppet
// does (Ruby's rules for a command string, output kept for the error) and says
// whether the run may go on.
func (r *agentRun) runSetting(ctx context.Context, setting string) bool {
	command := r.set.String(setting)
	if command == "" {
		return true
	}
	prog, argv := resources.RubyCommand(command)
	cmd := exec.CommandContext(ctx, prog)
	cmd.Args = argv
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("Execution of '%s' returned %d: %s", command, ee.ExitCode(), out)
		}
		r.log.Printf(engine.Err, "Could not run command from %s: %v", setting, err)
		return false
	}
	return true
}

// puppetSettingsFacts sets what stdlib's puppet_settings.rb facts give inside
// Puppet's process, where the agent's settings are loaded: puppet_vardir,
// puppet_environmentpath and puppet_server. The facter command resolves them to
// nothing, or, once another custom fact has loaded Puppet's code (stdlib's
// service_provider.rb does), to Puppet's defaults rather than this node's.
func puppetSettingsFacts(values map[string]any, customDirs []string, set *puppetconf.Settings) {
	for _, d := range customDirs {
		if _, err := os.Stat(filepath.Join(d, "puppet_settings.rb")); err != nil {
			continue
		}
		for fact, setting := range map[string]string{"puppet_vardir": "vardir", "puppet_environmentpath": "environmentpath", "puppet_server": "server"} {
			values[fact] = set.String(setting)
		}
		return
	}
}

// agentSources says where the agent keeps its copies of the server's puppet:///
// sources, per environment ("$environment"): those of modules laid out as a module
// path, those of the other mounts under agent.MountCopies. Its Files read them
// there, and so do the Files Puppet runs for it.
func agentSources(vardir string) *resources.ModuleRoots {
	dir := filepath.Join(vardir, "mgmt-puppet", "sources", "$environment")
	return &resources.ModuleRoots{Dirs: []string{dir}, Mounts: agent.MountCopies(dir)}
}
