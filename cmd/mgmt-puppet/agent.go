package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mgmt-puppet/mgmt-puppet/agent"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/puppetconf"
	"github.com/mgmt-puppet/mgmt-puppet/puppetlog"
	"github.com/mgmt-puppet/mgmt-puppet/report"
)

// agentSettings are the puppet agent settings that may be given as flags: they
// override puppet.conf as puppet agent's own flags do.
var agentSettings = []struct{ name, usage string }{
	{"server", "the Puppet Server"},
	{"serverport", "its port"},
	{"ca_server", "the CA server"},
	{"ca_port", "its port"},
	{"server_list", "servers to try in turn (host[:port],...): the first that answers serves the run"},
	{"srv_domain", "the domain whose SRV records name the servers (with --use_srv_records)"},
	{"report_server", "the server reports go to"},
	{"report_port", "its port"},
	{"certname", "this node's certificate name"},
	{"environment", "the environment to ask for"},
	{"ssldir", "the SSL directory"},
	{"vardir", "Puppet's cache directory"},
	{"statedir", "the state directory (locks, last_run_report.yaml)"},
	{"publicdir", "where last_run_summary.yaml is written"},
	{"lastrunfile", "last_run_summary.yaml"},
	{"lastrunreport", "last_run_report.yaml"},
	{"rundir", "the run directory"},
	{"logdir", "the log directory"},
	{"tags", "apply only resources with one of these tags"},
	{"skip_tags", "do not apply resources with one of these tags"},
	{"waitforcert", "time between asks for a signed certificate (0: exit)"},
	{"runinterval", "time between runs"},
	{"filetimeout", "how often the daemon looks whether puppet.conf changed (0: never)"},
	{"certificate_revocation", "chain, leaf or false"},
	{"ca_fingerprint", "SHA-256 of the CA bundle to trust at the first download"},
	{"prerun_command", "a command run before the catalog is applied; failing, it stops the run"},
	{"postrun_command", "a command run after the catalog is applied"},
	{"http_proxy_host", "the HTTP proxy to the servers (none: no proxy; http_proxy in the environment wins)"},
	{"http_proxy_port", "its port"},
	{"http_proxy_user", "its user (none: no credentials)"},
	{"http_proxy_password", "its password"},
	{"no_proxy", "servers reached without the proxy (host, *.domain, .domain, host:port, ...)"},
	{"http_connect_timeout", "how long a connection to a server may take"},
	{"http_read_timeout", "how long any read from a server may take"},
	{"runtimeout", "how long a run may take before it is terminated (0: no limit)"},
}

// agentBools are the boolean settings given as flags, with their --no- forms.
var agentBools = []struct{ name, usage string }{
	{"noop", "check everything, change nothing"},
	{"splay", "wait a random time up to splaylimit before the run"},
	{"usecacheonfailure", "apply the cached catalog when the server gives none"},
	{"use_cached_catalog", "apply the cached catalog without asking the server for one"},
	{"strict_environment_mode", "run in the environment given, never the server's"},
	{"report", "send the report to the server"},
	{"daemonize", "run in the background (the default, as puppet agent's; --test is --no-daemonize)"},
	{"onetime", "one run, then exit"},
	{"show_diff", "log a unified diff of a file's content before it changes (on with --test)"},
	{"use_srv_records", "find the servers by DNS SRV records (_x-puppet._tcp.DOMAIN...) first"},
	{"resubmit_facts", "send the facts to the server again after the run"},
}

type agentOptions struct {
	confdir           string
	enable, disable   bool
	reason            string // --disable's
	test              bool
	detailedExitcodes bool
	verbose, debug    bool
	color, logdest    string
	metricsListen     string
	parallelism       int
	delegate          delegateOptions
	settings          map[string]*string
	bools             map[string]*bool
	flags             *pflag.FlagSet
}

func newAgentCommand() *cobra.Command {
	o := &agentOptions{settings: map[string]*string{}, bools: map[string]*bool{}}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Fetch this node's catalog from Puppet Server, apply it and report, as puppet agent does",
		Long: `Run as puppet agent 7 does against an unmodified Puppet Server: the node's certificate
from its ssldir (or bootstrapped: key, CSR, signed certificate), settings from
puppet.conf ([main] and [agent]) overridden by flags, the node's environment, facts from
Facter, the compiled catalog (cached for usecacheonfailure), the run report sent to the
server, last_run_summary.yaml and last_run_report.yaml where puppet agent writes them,
and its lock files (agent_catalog_run.lock, agent_disabled.lock) shared with it.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.disable {
				return cobra.MaximumNArgs(1)(cmd, args) // the reason
			}
			return cobra.NoArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.disable && len(args) == 1 {
				o.reason = args[0]
			}
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	// Puppet's flags are its settings' names; both spellings are taken.
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		return pflag.NormalizedName(strings.ReplaceAll(name, "_", "-"))
	})
	f.StringVar(&o.confdir, "confdir", "", "Puppet's configuration directory, holding puppet.conf (root: /etc/puppet)")
	for _, s := range agentSettings {
		short := ""
		if s.name == "waitforcert" {
			short = "w"
		}
		o.settings[s.name] = f.StringP(s.name, short, "", s.usage)
	}
	f.Lookup("serverport").Deprecated = ""
	o.settings["masterport"] = o.settings["serverport"]
	f.StringVar(o.settings["serverport"], "masterport", "", "the old name of --serverport")
	for _, b := range agentBools {
		o.bools[b.name] = f.Bool(b.name, false, b.usage)
		f.Bool("no-"+b.name, false, "")
		_ = f.MarkHidden("no-" + b.name)
	}
	f.BoolVar(&o.disable, "disable", false, "disable runs, as puppet agent --disable [REASON]: agent_disabled.lock, which puppet agent honours too")
	f.BoolVar(&o.enable, "enable", false, "enable runs again (removes agent_disabled.lock)")
	f.BoolVarP(&o.test, "test", "t", false, "one verbose run in the foreground with detailed exit codes and no cached catalog, as puppet agent --test")
	f.BoolVar(&o.detailedExitcodes, "detailed-exitcodes", false, "exit 0 no changes, 2 changes, 4 failures, 6 both, 1 could not run")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log info lines")
	f.BoolVarP(&o.debug, "debug", "d", false, "log debug lines")
	f.StringVar(&o.color, "color", "auto", "colour log lines: auto, true, false or ansi")
	f.StringVar(&o.logdest, "logdest", "", "where log lines go, comma-separated: console, syslog, or files (text; JSON when the name ends in .json or .jsonl), as puppet agent writes them (default: the logdest setting, else console with --test, --verbose or --debug, else syslog)")
	f.IntVar(&o.parallelism, "parallelism", engine.DefaultParallelism(), "resources evaluated at once")
	f.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics while running as a daemon (host:port)")
	o.delegate.flags(f)
	o.flags = f
	return cmd
}

// overrides are the settings the command line gave.
func (o *agentOptions) overrides() map[string]string {
	out := map[string]string{}
	for _, s := range agentSettings {
		if o.flags.Changed(s.name) {
			out[s.name] = *o.settings[s.name]
		}
	}
	if o.flags.Changed("masterport") {
		out["serverport"] = *o.settings["serverport"]
	}
	if o.confdir != "" {
		out["confdir"] = o.confdir
	}
	for _, b := range agentBools {
		switch {
		case o.flags.Changed("no-" + b.name):
			out[b.name] = "false"
		case o.flags.Changed(b.name):
			out[b.name] = strconv.FormatBool(*o.bools[b.name])
		}
	}
	if o.test {
		// --test: onetime, verbose, no daemon, no cached catalog, no splay,
		// diffs shown, detailed exit codes, and no wait for a certificate unless
		// one was asked.
		for k, v := range map[string]string{"onetime": "true", "daemonize": "false", "usecacheonfailure": "false", "splay": "false", "show_diff": "true"} {
			out[k] = v
		}
		if !o.flags.Changed("waitforcert") {
			out["waitforcert"] = "0"
		}
	}
	return out
}

func (o *agentOptions) run(ctx context.Context) error {
	ro := &runOptions{verbose: o.verbose || o.test, debug: o.debug, color: o.color, parallelism: o.parallelism, fightAfter: 5,
		delegate: o.delegate}
	if err := ro.validate(); err != nil {
		return err
	}
	log, err := o.logger(ro, o.logdest)
	if err != nil {
		return err
	}
	over := o.overrides()
	confdir := over["confdir"]
	root := os.Geteuid() == 0
	if confdir == "" {
		confdir = defaultConfdir(root)
	}
	set, err := puppetconf.Load(filepath.Join(confdir, "puppet.conf"), "agent", over, root)
	if err != nil {
		log.Printf(engine.Err, "Could not parse configuration: %v", err)
		return exitError{1}
	}
	if dest := set.String("logdest"); o.logdest == "" && dest != "" {
		// puppet.conf's logdest, where the flag did not say.
		fromConf, err := o.logger(ro, dest)
		if err != nil {
			log.Printf(engine.Err, "Could not prepare for execution: %v", err)
			return exitError{1}
		}
		log = fromConf
	}
	defer log.Close()
	if o.enable || o.disable {
		// As puppet agent: the lock written or removed, exit 0.
		lock := set.String("agent_disabled_lockfile")
		if o.enable {
			log.Printf(engine.Notice, "Enabling Puppet.")
			return agent.Enable(lock)
		}
		reason := o.reason
		if reason == "" {
			reason = "reason not specified"
		}
		log.Printf(engine.Notice, "Disabling Puppet.")
		_, err := agent.Disable(lock, reason)
		return err
	}
	if err := unsupported(set); err != nil {
		log.Printf(engine.Err, "Could not run: %v", err)
		return exitError{1}
	}
	onetime, err := set.Bool("onetime")
	if err != nil {
		return err
	}
	if background, _ := set.Bool("daemonize"); background {
		if !daemonized() {
			return daemonize()
		}
		if l := o.daemonLogger(ro, set, log); l != log {
			defer l.Close()
			log = l
		}
		if err := os.Chdir("/"); err != nil {
			return err
		}
		if onetime {
			unlock, err := lockOnetimePID(set, log)
			if err != nil {
				return err
			}
			defer unlock()
		}
	}
	detailed := o.detailedExitcodes || o.test
	ctx, stop := stopOnSignal(ctx, log)
	defer stop()
	if !onetime {
		return o.daemon(ctx, set, ro, log)
	}
	code, err := o.once(ctx, set, ro, log)
	if err != nil {
		log.Printf(engine.Err, "Could not run: %v", err)
		return exitError{1}
	}
	switch {
	case code < 0:
		return exitError{1}
	case detailed && code != 0:
		return exitError{code}
	}
	return nil
}

// logger sends log lines where dest says (--logdest, or the logdest setting): a
// comma-separated list of console, syslog and absolute file paths, written as
// Puppet's destinations write them (puppetlog.Open). With no dest, as puppet
// agent: to the console when asked to be verbose (--test, --verbose, --debug),
// else to syslog as puppet-agent (to the console when there is no syslog).
func (o *agentOptions) logger(ro *runOptions, dest string) (*puppetlog.Logger, error) {
	if dest == "" {
		if ro.verbose || ro.debug {
			return ro.logger(), nil
		}
		if l, err := puppetlog.NewSyslog("puppet-agent", ro.level()); err == nil {
			return l, nil
		}
		return ro.logger(), nil
	}
	var dests []string
	for _, d := range strings.Split(dest, ",") {
		dests = append(dests, strings.TrimSpace(d))
	}
	log, made, err := puppetlog.Open(dests, os.Stdout, "puppet-agent", ro.level(), ro.colored())
	if err != nil {
		return nil, fmt.Errorf("Could not set logdest to %s: %w", dest, err)
	}
	for _, dir := range made {
		log.Printf(engine.Info, "Creating log directory %s", dir)
	}
	return log, nil
}

// stopOnSignal returns a context that ends at SIGINT or SIGTERM, which Puppet's
// agent reports as "Caught TERM; exiting"; in-flight work then finishes, and a
// second signal kills the process the usual way. stop ends the watch.
func stopOnSignal(ctx context.Context, log *puppetlog.Logger) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer signal.Stop(sigs)
		select {
		case sig := <-sigs:
			name := "TERM"
			if sig == os.Interrupt {
				name = "INT"
			}
			log.Printf(engine.Notice, "Caught %s; exiting", name)
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func defaultConfdir(root bool) string {
	if root {
		return "/etc/puppet"
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".puppet", "etc")
}

// runLog is the agent's logger: lines go where --logdest says and into the
// report being recorded, as Puppet's report keeps every line of the run.
type runLog struct {
	*puppetlog.Logger
	rec atomic.Pointer[report.Recorder]
}

// Printf logs a line and records it.
func (l *runLog) Printf(level engine.Level, format string, args ...any) {
	l.Logger.Printf(level, format, args...)
	if rec := l.rec.Load(); rec != nil {
		rec.Log(level, fmt.Sprintf(format, args...))
	}
}

// unsupported refuses settings that would change which catalog is applied, or
// how it is fetched, and that are not built yet: a run that ignored them could
// apply what Puppet would not.
func unsupported(set *puppetconf.Settings) error {
	var bad []string
	if v, c := set.String("node_name_value"), set.String("certname"); v != c {
		bad = append(bad, "node_name_value = "+v)
	}
	if len(bad) > 0 {
		return fmt.Errorf("not supported yet by mgmt-puppet agent: %s (see docs/agent.md)", strings.Join(bad, ", "))
	}
	return nil
}
