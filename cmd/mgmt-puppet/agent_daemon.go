package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/agent"
	"github.com/mgmt-puppet/mgmt-puppet/delegate"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/puppetconf"
	"github.com/mgmt-puppet/mgmt-puppet/puppetlog"
	"github.com/mgmt-puppet/mgmt-puppet/report"
)

// daemon is the agent between and during runs: one engine keeps the catalog
// converged all along, each run swaps the new catalog in (unchanged resources
// keep their state and watches), and each run's report tells what happened since
// the last one: the repairs made between runs (corrective changes) and the run.
type daemon struct {
	r      *agentRun
	ro     *runOptions
	runner *delegate.Runner
	eng    *engine.Engine
	done   chan struct{} // a pass or a swap is over
	ran    chan error    // the engine's Run returned; nil before it starts
	// gate is agent_catalog_run.lock, shared by the runs and the engine's
	// repairs between them, which wait while the agent is disabled.
	gate *agent.RunGate
	// sslLoaded: the certificates were just loaded (at the start), for the
	// first run; the next runs load them again.
	sslLoaded bool
	// metrics, with --metrics-listen, count runs, repairs and failures.
	metrics *agentMetrics
}

// ended counts a run that ended with result (success, failure, skipped).
func (d *daemon) ended(result string, start time.Time, rec *report.Recorder) {
	if d.metrics != nil {
		d.metrics.run(result, time.Since(start), rec)
	}
}

// Observe implements engine.Observer: events go to the current recorder, and the
// end of a pass or a swap is signalled.
func (d *daemon) Observe(e engine.Event) {
	d.r.log.rec.Load().Observe(e) // the recorder of the run log: what happens goes there
	if e.Kind == engine.EventPassDone || e.Kind == engine.EventSwapDone {
		select {
		case d.done <- struct{}{}:
		default:
		}
	}
}

// newRecorder starts the record of what happens until the next report.
func (d *daemon) newRecorder(env string) {
	rec := report.NewRecorder(report.Run{Host: d.r.certname, RunMode: "agent", Environment: env, Noop: d.r.noop}, d.ro.level())
	d.r.log.rec.Store(rec)
}

// daemon runs as puppet agent's daemon does, but in the foreground (run it under
// systemd): a run at the start (after a splay, when set) and every runinterval,
// one more at SIGUSR1; SIGTERM or SIGINT stop it once in-flight work is done.
func (o *agentOptions) daemon(ctx context.Context, set *puppetconf.Settings, ro *runOptions, log *puppetlog.Logger) error {
	interval, err := set.Duration("runinterval")
	if err != nil {
		return err
	}
	r := &agentRun{set: set, log: &runLog{Logger: log}, certname: strings.ToLower(set.String("certname")), envGiven: o.flags.Changed("environment")}
	if r.noop, err = set.Bool("noop"); err != nil {
		return err
	}
	// As Puppet's daemon, it holds the pidfile while it runs, so that a second
	// daemon (a puppet agent not disabled yet, or another mgmt-puppet) refuses
	// to start; each takes the other's for a Puppet process (Pidlock).
	pidfile, err := agent.LockPID(set.String("pidfile"))
	if err != nil {
		log.Printf(engine.Notice, "Starting Puppet client version %s", agent.PuppetVersion)
		if errors.Is(err, agent.ErrLocked) {
			err = fmt.Errorf("Could not create PID file: %s", set.String("pidfile"))
		}
		log.Printf(engine.Err, "Could not run: %v", err)
		return exitError{1}
	}
	defer pidfile.Unlock()
	if err := splay(ctx, set, log); err != nil {
		return nil // stopped while splaying
	}
	if r.httpOpts, err = r.httpOptions(); err != nil {
		return err
	}
	r.servers = newServers(r)
	tlsConf, err := r.ssl(ctx)
	if errors.Is(err, agent.ErrNotSigned) || errors.Is(err, context.Canceled) || noRoute(err, r.log) {
		return exitError{1}
	}
	if err != nil {
		return err
	}
	r.tls = tlsConf
	defer r.closeClients()
	d := &daemon{r: r, ro: ro, runner: ro.delegate.runner(nil, set.String("plugindest"), agentSources(set.String("vardir"))), done: make(chan struct{}, 1), sslLoaded: true,
		gate: agent.NewRunGate(set.String("agent_catalog_run_lockfile"), set.String("agent_disabled_lockfile"))}
	d.gate.Waiting = func(why string) {
		if why == "" {
			why = "Repairing drift again"
		}
		log.Printf(engine.Notice, "%s", why)
	}
	if d.runner != nil {
		defer d.runner.Close()
	}
	d.newRecorder(set.String("environment"))
	obs := observers{log, d}
	if o.metricsListen != "" {
		d.metrics = newAgentMetrics()
		addr, err := d.metrics.serve(ctx, o.metricsListen)
		if err != nil {
			return err
		}
		log.Printf(engine.Info, "Serving metrics at http://%s/metrics", addr)
		obs = append(obs, d.metrics)
	}
	if d.eng, err = engine.New(engine.Config{Parallelism: ro.parallelism, Noop: r.noop, ConvergedTimeout: -1,
		Observer: obs, FightRepairs: fightRepairs(ro.fightAfter), Gate: d.gate}); err != nil {
		return err
	}
	usr1, usr2, hup := make(chan os.Signal, 1), make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	signal.Notify(usr2, syscall.SIGUSR2)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(usr1)
	defer signal.Stop(usr2)
	defer signal.Stop(hup)
	// The engine has a context of its own, so that a restart can stop it.
	ctx, stopEngine := context.WithCancel(ctx)
	defer stopEngine()
	log.Printf(engine.Notice, "Starting Puppet client version %s", agent.PuppetVersion)
	next := time.NewTimer(0)
	defer next.Stop()
	// restartNow stops the engine once in-flight work is done, and starts the
	// process again, which reads puppet.conf again.
	restartNow := func() error {
		stopEngine()
		if d.ran != nil {
			if err := <-d.ran; err != nil {
				return err
			}
		}
		log.Printf(engine.Notice, "Restarting with '%s'", strings.Join(os.Args, " "))
		pidfile.Unlock() // as Puppet's daemon before it execs itself
		return restart()
	}
	// As Puppet's daemon, puppet.conf is looked at every filetimeout (0: never).
	conf := filepath.Join(set.String("confdir"), "puppet.conf")
	confState := statFile(conf)
	var reparse <-chan time.Time
	if every, err := set.Duration("filetimeout"); err != nil {
		return err
	} else if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		reparse = t.C
	}
	for {
		select {
		case <-ctx.Done():
			if d.ran != nil {
				return <-d.ran // in-flight work finishes first
			}
			return nil
		case err := <-d.ran:
			return err
		case <-usr1:
			// Puppet 7's daemon: the trap stores the signal's method, its
			// loop then processes it.
			log.Printf(engine.Notice, "Caught USR1; storing reload")
			log.Printf(engine.Notice, "Processing reload")
		case <-usr2:
			log.Printf(engine.Notice, "Caught USR2; storing reopen_logs")
			log.Printf(engine.Notice, "Processing reopen_logs")
			log.Printf(engine.Notice, "Reopening log files")
			if err := log.Reopen(); err != nil {
				log.Printf(engine.Err, "%v", err)
			}
			continue
		case <-hup:
			// As puppet agent: a restart, which reads puppet.conf again.
			log.Printf(engine.Notice, "Caught HUP; storing restart")
			log.Printf(engine.Notice, "Processing restart")
			return restartNow()
		case <-reparse:
			if statFile(conf) == confState {
				continue
			}
			// Puppet re-parses its settings in place; mgmt-puppet starts again
			// with them (and makes a run at once).
			log.Printf(engine.Notice, "Config file %s changed; triggering re-parse of all config files.", conf)
			return restartNow()
		case <-next.C:
		}
		d.run(ctx)
		next.Reset(interval)
	}
}

// fileState is what tells a file changed: whether it exists, its size, time
// and inode.
type fileState struct {
	exists       bool
	size         int64
	mtime, ctime int64 // nanoseconds
	inode        uint64
}

func statFile(path string) fileState {
	st, err := os.Stat(path)
	if err != nil {
		return fileState{}
	}
	fs := fileState{exists: true, size: st.Size(), mtime: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		fs.inode = sys.Ino
		fs.ctime = sys.Ctim.Nano()
	}
	return fs
}

// run makes one agent run: the catalog fetched and swapped in (the engine started
// on the first), and the report of everything since the last one sent.
func (d *daemon) run(ctx context.Context) {
	r := d.r
	set := r.set
	start := time.Now()
	if disabled, err := skipDisabled(set, r.log); err != nil {
		r.log.Printf(engine.Err, "Could not run: %v", err)
		d.ended("failure", start, nil)
		return
	} else if disabled {
		// Repairs wait too, at the gate, until the agent is enabled again.
		d.ended("skipped", start, nil)
		return
	}
	if ok, err := waitLock(ctx, set, r.log, d.gate.Acquire); err != nil {
		r.log.Printf(engine.Err, "Could not run: %v", err)
		d.ended("failure", start, nil)
		return
	} else if !ok {
		d.ended("skipped", start, nil)
		return
	}
	defer d.gate.Release()
	// As each of Puppet's runs, the certificates and CRLs are loaded again (a
	// renewed certificate is taken up, CRLs are refreshed every
	// crl_refresh_interval), but for the first run, right after the start.
	if !d.sslLoaded {
		tlsConf, err := r.ssl(ctx)
		if err != nil {
			if !errors.Is(err, agent.ErrNotSigned) && !noRoute(err, r.log) {
				r.log.Printf(engine.Err, "Could not run: %v", err)
			}
			d.ended("failure", start, nil)
			return
		}
		r.tls = tlsConf
	}
	d.sslLoaded = false
	if err := r.connect(ctx); err != nil {
		r.log.Printf(engine.Err, "Could not run Puppet configuration client: %v", err)
		d.ended("failure", start, nil)
		return
	}
	// runtimeout bounds the run: the engine, which goes on between runs, works
	// under ctx, not runCtx.
	runCtx, stop, err := r.limit(ctx)
	if err != nil {
		r.log.Printf(engine.Err, "Could not run: %v", err)
		d.ended("failure", start, nil)
		return
	}
	defer stop()
	rec := d.r.log.rec.Load()
	p, err := r.prepare(runCtx, d.ro, d.runner, rec)
	if err != nil {
		r.log.Printf(engine.Err, "Could not run: %v", err)
	}
	if p == nil {
		// Reported. The running graph, if any, stays converged: the last
		// catalog applied, as a cached one would be.
		r.timedOut()
		d.newRecorder(set.String("environment"))
		d.ended("failure", start, rec)
		return
	}
	// expired ends a run that reached runtimeout: reported as Puppet's is when
	// its Timeout fires, but the engine goes on applying the catalog, and what it
	// does is in the next report.
	expired := func() {
		rec.Incomplete()
		r.pastLimit()
		r.runSetting(ctx, "postrun_command")
		r.resubmitFacts(ctx, rec, p.env) // into this run's report, before the next one's recorder
		d.newRecorder(p.env)
		r.finish(ctx, rec, p.env)
		r.timedOut()
		d.ended("failure", start, rec)
	}
	if !r.runSetting(runCtx, "prerun_command") {
		if r.expired() {
			expired()
			return
		}
		rec.Incomplete()
		r.pastLimit()
		r.runSetting(ctx, "postrun_command")
		r.finish(ctx, rec, p.env)
		d.newRecorder(p.env)
		d.ended("failure", start, rec)
		return
	}
	r.log.Printf(engine.Info, "Applying configuration version '%s'", p.header.ConfigurationVersion)
	select {
	case <-d.done:
	default:
	}
	swapped := d.ran != nil
	if swapped {
		// The swap waits for the evaluations in flight: runtimeout bounds it.
		if err := d.eng.Swap(runCtx, p.res.Graph); err != nil {
			if r.expired() {
				expired()
				return
			}
			r.log.Printf(engine.Err, "Could not run: %v", err)
			d.ended("failure", start, nil)
			return
		}
	} else {
		d.ran = make(chan error, 1)
		go func() {
			_, err := d.eng.Run(ctx, p.res.Graph)
			d.ran <- err
		}()
	}
	applying := time.Now()
	select {
	case <-d.done:
	case err := <-d.ran:
		// The engine stopped before the pass was over: its error is the run's.
		d.ran <- err // for the loop, which ends on it
		rec.Incomplete()
		r.finish(ctx, rec, p.env)
		return
	case <-ctx.Done():
		return
	case <-r.abort.Done():
		expired()
		return
	}
	r.pastLimit()
	if swapped {
		r.log.Printf(engine.Notice, "Applied catalog in %.2f seconds", time.Since(applying).Seconds())
	}
	rec.InSync(p.res.Graph.Vertices())
	r.runSetting(ctx, "postrun_command")
	r.resubmitFacts(ctx, rec, p.env) // into this run's report, before the next one's recorder
	d.newRecorder(p.env)
	r.finish(ctx, rec, p.env)
	result := "success"
	if _, status := rec.Resources(); status == "failed" {
		result = "failure"
	}
	d.ended(result, start, rec)
}

// restart replaces the process by a new run of the same command line.
func restart() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	env := os.Environ()
	if wasDaemonized {
		// Already in the background: the new image must not fork again.
		env = append(env, daemonizedEnv+"=1")
	}
	return syscall.Exec(self, os.Args, env)
}
