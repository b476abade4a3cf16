package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/agent"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/puppetconf"
	"github.com/mgmt-puppet/mgmt-puppet/puppetlog"
	"github.com/spf13/pflag"
)

func TestPuppetSettingsFacts(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "puppet.conf")
	if err := os.WriteFile(conf, []byte("[main]\nvardir = /srv/pv\nserver = puppet.example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := puppetconf.Load(conf, "agent", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	withStdlib, without := filepath.Join(dir, "lib"), filepath.Join(dir, "other")
	os.MkdirAll(withStdlib, 0o755)
	os.MkdirAll(without, 0o755)
	os.WriteFile(filepath.Join(withStdlib, "puppet_settings.rb"), nil, 0o644)

	// Facter with Puppet's code loaded by another fact gives Puppet's defaults.
	values := map[string]any{"puppet_server": "puppet"}
	puppetSettingsFacts(values, []string{without}, set)
	if len(values) != 1 {
		t.Errorf("without stdlib's puppet_settings.rb: %v, want nothing added", values)
	}
	puppetSettingsFacts(values, []string{without, withStdlib}, set)
	want := map[string]any{"puppet_server": "puppet.example.com", "puppet_vardir": "/srv/pv", "puppet_environmentpath": "/etc/puppet/code/environments"}
	for k, v := range want {
		if values[k] != v {
			t.Errorf("%s = %v, want %v", k, values[k], v)
		}
	}
}

func TestUnsupportedSettings(t *testing.T) {
	for _, tc := range []struct {
		conf, want string // want: a part of the error, "" for none
	}{
		{"", ""},
		{"[agent]\nserver = puppet.example.com\nenvironment = staging\n", ""},
		{"[agent]\nuse_cached_catalog = true\n", ""},
		{"[main]\nstrict_environment_mode = true\n", ""},
		{"[agent]\nserver_list = a:8140,b\n", ""},
		{"[agent]\nhttp_proxy_host = proxy\n", ""},             // through the proxy: TestProxy
		{"[agent]\ndns_alt_names = web,web.example.com\n", ""}, // put in the CSR
		{"[agent]\ncertname = a.example.com\nnode_name_value = b.example.com\n", "node_name_value = b.example.com"},
	} {
		conf := filepath.Join(t.TempDir(), "puppet.conf")
		if err := os.WriteFile(conf, []byte(tc.conf), 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := puppetconf.Load(conf, "agent", map[string]string{"certname": "a.example.com"}, true)
		if err != nil {
			t.Fatalf("%q: %v", tc.conf, err)
		}
		err = unsupported(set)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v, want no error", tc.conf, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v, want an error naming %q", tc.conf, err, tc.want)
		}
	}
}

// logLines is an agent.Logger that keeps its lines.
type logLines []string

func (l *logLines) Printf(level engine.Level, format string, args ...any) {
	*l = append(*l, level.String()+": "+fmt.Sprintf(format, args...))
}

// TestWaitLock: with another run holding the lock, waitforlock 0 skips the run
// with Puppet's notice; waitforlock N tries again every N seconds, saying so,
// until the lock is free or maxwaitforlock has passed.
func TestWaitLock(t *testing.T) {
	lockFile := filepath.Join(t.TempDir(), "agent_catalog_run.lock")
	for _, tc := range []struct {
		name     string
		settings map[string]string
		freeAt   int // the try that takes the lock (0: never)
		want     []string
		ok       bool
	}{
		{"no wait", map[string]string{}, 0,
			[]string{"Notice: Run of Puppet configuration client already in progress; skipping  (" + lockFile + " exists)"}, false},
		{"wait, then free", map[string]string{"waitforlock": "1"}, 2,
			[]string{"Info: Another puppet instance is already running; --waitforlock flag used, waiting for running instance to finish.",
				"Info: Will try again in 1 seconds."}, true},
		{"wait past maxwaitforlock", map[string]string{"waitforlock": "1", "maxwaitforlock": "0"}, 0,
			[]string{"Notice: Exiting now because the maxwaitforlock timeout has been exceeded."}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			overrides := map[string]string{"certname": "a.example.com", "agent_catalog_run_lockfile": lockFile}
			for k, v := range tc.settings {
				overrides[k] = v
			}
			set, err := puppetconf.Load(filepath.Join(t.TempDir(), "puppet.conf"), "agent", overrides, true)
			if err != nil {
				t.Fatal(err)
			}
			tries := 0
			var log logLines
			ok, err := waitLock(t.Context(), set, &log, func() error {
				tries++
				if tries == tc.freeAt {
					return nil
				}
				return agent.ErrLocked
			})
			if ok != tc.ok || err != nil {
				t.Errorf("waitLock = %v, %v; want %v", ok, err, tc.ok)
			}
			if strings.Join(log, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("logged\n%s\nwant\n%s", strings.Join(log, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestEarlyFacts: facts started before pluginsync are the run's when nothing
// dropped them; once dropped (pluginsync changed a plugin), Facter runs again
// and its facts are those of the plugins as they are now. Facter here is a
// script that prints a fact read from a file of the custom fact folder.
func TestEarlyFacts(t *testing.T) {
	bin, lib := t.TempDir(), t.TempDir()
	facter := "#!/bin/sh\nprintf '{\"plugin\": \"%s\"}' \"$(cat " + filepath.Join(lib, "plugin.rb") + ")\"\n"
	if err := os.WriteFile(filepath.Join(bin, "facter"), []byte(facter), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, drop := range []bool{false, true} {
		if err := os.WriteFile(filepath.Join(lib, "plugin.rb"), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := puppetconf.Load(filepath.Join(t.TempDir(), "puppet.conf"), "agent",
			map[string]string{"certname": "a.example.com", "factpath": lib}, true)
		if err != nil {
			t.Fatal(err)
		}
		r := &agentRun{set: set, log: &runLog{Logger: puppetlog.New(io.Discard, engine.Debug, false)}, certname: "a.example.com"}
		r.early = r.startFacts(t.Context())
		// What pluginsync does, once Facter has read the file.
		for i := 0; i < 500 && len(r.early.done) == 0; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if err := os.WriteFile(filepath.Join(lib, "plugin.rb"), []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		if drop {
			r.dropEarlyFacts()
		}
		wire, err := r.facts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := `"plugin":"old"`
		if drop {
			want = `"plugin":"new"`
		}
		if !strings.Contains(string(wire), want) {
			t.Errorf("dropped %v: facts %s, want %s", drop, wire, want)
		}
		if r.early != nil {
			t.Errorf("dropped %v: the early facts are still there after the run's", drop)
		}
	}
}

// TestDaemonPidfile: the daemon holds Puppet's pidfile while it runs, refuses to
// start while a live Puppet process holds it, takes over a stale one, and
// leaves none behind.
func TestDaemonPidfile(t *testing.T) {
	// A copy of sleep named puppet is a live Puppet to Pidlock.
	fake := filepath.Join(t.TempDir(), "puppet")
	sleepPath, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(sleepPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, src, 0o755); err != nil {
		t.Fatal(err)
	}
	live := exec.Command(fake, "30")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		holder int // the PID in the pidfile beforehand; 0: no pidfile
		want   string
	}{
		{"held by a live puppet", live.Process.Pid, "Notice: Starting Puppet client version " + agent.PuppetVersion +
			"\nError: Could not run: Could not create PID file: PIDFILE\n"},
		{"stale", gone.Process.Pid, ""},
		{"free", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidfile := filepath.Join(dir, "run", "agent.pid")
			if tc.holder != 0 {
				os.MkdirAll(filepath.Dir(pidfile), 0o755)
				if err := os.WriteFile(pidfile, []byte(fmt.Sprint(tc.holder)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Splay with the context ended: the daemon stops right after taking the
			// pidfile, before it would reach for a server.
			set, err := puppetconf.Load(filepath.Join(dir, "puppet.conf"), "agent",
				map[string]string{"certname": "a.example.com", "rundir": filepath.Join(dir, "run"), "vardir": dir,
					"splay": "true", "splaylimit": "3600"}, true)
			if err != nil {
				t.Fatal(err)
			}
			if got := set.String("pidfile"); got != pidfile {
				t.Fatalf("pidfile %s, want %s", got, pidfile)
			}
			var out strings.Builder
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			o := &agentOptions{flags: pflag.NewFlagSet("agent", pflag.ContinueOnError)}
			err = o.daemon(ctx, set, &runOptions{parallelism: 2}, puppetlog.New(&out, engine.Info, false))
			got := strings.ReplaceAll(out.String(), pidfile, "PIDFILE")
			if tc.want != "" {
				if err != (exitError{1}) || got != tc.want {
					t.Fatalf("daemon: %v, logged %q; want exit 1 and %q", err, got, tc.want)
				}
				if data, _ := os.ReadFile(pidfile); string(data) != fmt.Sprint(tc.holder) {
					t.Errorf("the other daemon's pidfile holds %q", data)
				}
				return
			}
			if err != nil || strings.Contains(got, "Error") {
				t.Fatalf("daemon: %v, logged %q", err, got)
			}
			if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
				t.Errorf("pidfile left behind (%v)", err)
			}
		})
	}
}

// TestAgentLogdest: --logdest and the logdest setting take Puppet's list of
// destinations; a file gets Puppet's file format, its directory is made and
// said, and an unknown destination is refused as Puppet refuses it.
func TestAgentLogdest(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "log", "puppet.log")
	o := &agentOptions{}
	log, err := o.logger(&runOptions{verbose: true, color: "false"}, "console, "+file)
	if err != nil {
		t.Fatal(err)
	}
	log.Printf(engine.Notice, "Applied catalog in 0.01 seconds")
	log.Close()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], " Puppet (info): Creating log directory "+filepath.Dir(file)) ||
		!strings.HasSuffix(lines[1], " Puppet (notice): Applied catalog in 0.01 seconds") {
		t.Errorf("log file:\n%s", data)
	}
	if _, err := o.logger(&runOptions{}, "console,eventlog"); err == nil || err.Error() != "Could not set logdest to console,eventlog: Unknown destination type eventlog" {
		t.Errorf("an unknown destination: %v", err)
	}
	set, err := puppetconf.Load(filepath.Join(dir, "puppet.conf"), "agent", map[string]string{"logdest": file}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := set.String("logdest"); got != file {
		t.Errorf("logdest setting %q", got)
	}
}

// TestRunTimeout: runtimeout ends the run's context and the engine's abort with
// Ruby's "execution expired", logged as Puppet logs it; 0 never ends them; a
// stop (SIGTERM) ends the run's context but not the abort, so that work in flight
// finishes.
func TestRunTimeout(t *testing.T) {
	for _, tc := range []struct {
		timeout string
		stop    bool // the parent context is cancelled
		expired bool
	}{
		{"1", false, true},
		{"0", false, false},
		{"0", true, false},
	} {
		t.Run(fmt.Sprintf("%s,stop=%v", tc.timeout, tc.stop), func(t *testing.T) {
			set, err := puppetconf.Load(filepath.Join(t.TempDir(), "puppet.conf"), "agent",
				map[string]string{"certname": "a.example.com", "runtimeout": tc.timeout}, true)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			r := &agentRun{set: set, log: &runLog{Logger: puppetlog.New(&out, engine.Info, false)}}
			parent, cancel := context.WithCancel(t.Context())
			defer cancel()
			runCtx, stop, err := r.limit(parent)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if tc.stop {
				cancel()
			}
			select {
			case <-runCtx.Done():
			case <-time.After(3 * time.Second):
			}
			if ended := runCtx.Err() != nil; ended != (tc.expired || tc.stop) {
				t.Errorf("run context ended: %v", ended)
			}
			if aborted := r.abort.Err() != nil; aborted != tc.expired {
				t.Errorf("abort ended: %v, want %v", aborted, tc.expired)
			}
			if got := r.timedOut(); got != tc.expired {
				t.Errorf("timedOut = %v", got)
			}
			want := ""
			if tc.expired {
				want = "Error: Execution of Puppet configuration client did not complete within 1 seconds and was terminated.\n"
			}
			if out.String() != want {
				t.Errorf("logged %q, want %q", out.String(), want)
			}
		})
	}
}
