package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/integration/testbed"
)

// corpusDriftCI are the corpus cases CI keeps converged through the drift suite:
// issue 15's database server (PostgreSQL with statements run through psql, redis
// with a unit's RuntimeDirectory) and ntp, services with configurations that
// notify them, packages from the image's archive. CORPUS_CASES picks others, as
// for TestCorpusMatchesPuppetInTestbed.
var corpusDriftCI = []string{"db-server", "ntp-params"}

// driftRepairBound is how long the continuous run gets to repair one drift.
const driftRepairBound = 60 * time.Second

// fightLine is what the engine logs when it finds a resource in a fight.
const fightLine = "something else keeps changing it"

// TestCorpusDriftRepairedInTestbed keeps corpus cases converged with `mgmt-puppet
// run --converged-timeout -1` in one real-systemd container while a second copy of
// the image applies the same manifest with `puppet apply`. Then, one after
// another, the same drifts are made in both (every running service stopped, the
// configuration that notifies a service deleted, a managed file edited, another
// deleted, a package removed): the continuous run repairs by itself, Puppet by a
// fresh `puppet apply`. The time to repair is from the drift's start to the
// continuous run's last line about it, once a look at the state finds it back.
// The continuous run must reach the state it had before the drift within
// driftRepairBound, end in the state Puppet's apply reaches (or repair what
// Puppet's apply leaves broken), find no fight, and leave no unit failed that
// Puppet leaves running. A drift that cannot be made (an apt-get remove that
// wants to download what the image lacks) is shown, not failed. With
// CORPUS_DRIFT_TABLE=FILE the table of every case and drift goes to FILE.
func TestCorpusDriftRepairedInTestbed(t *testing.T) {
	requirePuppet(t)
	cases := corpusSelection(t, corpusDriftCI)
	var rows []string
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			n := len(rows)
			defer func() {
				if len(rows) == n { // stopped before its first drift
					rows = append(rows, "| "+c+" | stopped: see the test's log | | | | | | | | |")
				}
			}()
			corpusDriftInTestbed(t, c, func(row string) { rows = append(rows, row) })
		})
		writeTable(t, "CORPUS_DRIFT_TABLE", "| case | drift | mgmt-puppet repaired | time to repair, from the drift's start | one look at the state | puppet apply repaired | puppet apply | same state | fights | failed units (mgmt-puppet / puppet) |", rows)
	}
}

// corpusDriftInTestbed runs the drift suite of case c, passing each drift's table
// row to row.
func corpusDriftInTestbed(t *testing.T, c string, row func(string)) {
	dir := filepath.Join(moduleRoot(t), "fixtures", "corpus", c)
	manifest, err := os.ReadFile(filepath.Join(dir, "manifest.pp"))
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := testbed.StartFlavor(t, testbed.Corpus), testbed.StartFlavor(t, testbed.Corpus)
	for _, tb := range []*testbed.Testbed{ours, theirs} {
		setupCorpus(t, tb, manifest)
	}
	bin, _ := inTestbed(t, ours, "basic") // the binary; the basic catalog is not used
	path := compileInTestbed(t, ours)
	cat, err := catalog.ReadFile(filepath.Join(ours.Root, path))
	if err != nil {
		t.Fatal(err)
	}
	drifts := corpusDrifts(cat)
	if len(drifts) == 0 {
		t.Logf("%s: the catalog manages nothing the suite drifts", c)
		row("| " + c + " | none: nothing the suite drifts | | | | | | | | |")
		return
	}
	state := stateScript(managedResources(cat))
	puppetApply := func() (string, int, time.Duration) {
		start := time.Now()
		out, code := theirs.Exec(t, "env", corpusFacts, "puppet", "apply", "--color", "false", "--detailed-exitcodes",
			"--certname", "corpus.example", "--basemodulepath", corpusModulePath, "/root/corpus/manifest.pp")
		return out, code, time.Since(start)
	}
	// Both first applies at once: neither is timed.
	daemonLog := startDaemon(t, ours, bin, "--modulepath", corpusModulePath, path)
	if out, code, _ := puppetApply(); code != 0 && code != 2 {
		t.Logf("first puppet apply: exit %d\n%s", code, out)
	}
	waitLog(t, daemonLog, "Applied catalog", 10*time.Minute)
	quiet(daemonLog)
	// puppet apply compiles again every time, with facts the first apply may have
	// changed (collectd's collectd_version); the continuous run keeps the catalog
	// it was given, as an agent does until its next run. Then their states after
	// a drift may differ by what the catalogs do.
	recompiled, err := catalog.ReadFile(filepath.Join(theirs.Root, compileInTestbed(t, theirs)))
	if err != nil {
		t.Fatal(err)
	}
	sameCatalog := sameResources(cat, recompiled)
	if !sameCatalog {
		t.Logf("%s: the catalog compiled after the first apply differs from the one the continuous run keeps", c)
	}
	pollStart := time.Now()
	base, _ := ours.Exec(t, "sh", "-c", state)
	poll := time.Since(pollStart) // what one look at the state costs
	theirBase, _ := theirs.Exec(t, "sh", "-c", state)
	if base != theirBase {
		t.Errorf("after the first apply, the states differ:\n%s", lineDiff(theirBase, base))
	}

	for _, d := range drifts {
		// The continuous run repairs by itself, from the drift's start: it may
		// repair a service while the drift stops the next one.
		ourPre, _ := ours.Exec(t, "sh", "-c", state)
		logAt := len(daemonLog())
		start := time.Now()
		if out, code := ours.Exec(t, "sh", "-c", d.script); code != 0 {
			// apt-get remove may want to download what the image lacks, or fail
			// in a package's scripts: the drift is not made, which says nothing
			// of either tool.
			t.Logf("%s: the drift could not be made (exit %d): %s", d.name, code, out)
			row(fmt.Sprintf("| %s | %s | drift not made: %s | | | | | | | |", c, d.name, firstLine(out)))
			continue
		}
		got, repaired, took := awaitRepair(t, ours, state, []string{base, ourPre}, daemonLog, logAt, start)
		log := daemonLog()[logAt:]
		fights := strings.Count(log, fightLine)

		// Puppet repairs with a fresh apply of the same manifest. Its state before
		// the drift is the base but for what an earlier drift left, which Puppet's
		// apply did not repair.
		theirPre, _ := theirs.Exec(t, "sh", "-c", state)
		if out, code := theirs.Exec(t, "sh", "-c", d.script); code != 0 {
			t.Logf("%s: the drift could not be made in puppet's testbed (exit %d): %s", d.name, code, out)
			row(fmt.Sprintf("| %s | %s | drift not made in puppet's testbed: %s | | | | | | | |", c, d.name, firstLine(out)))
			continue
		}
		out, code, theirTime := puppetApply()
		want, _ := theirs.Exec(t, "sh", "-c", state)
		puppetRepaired := want == theirPre || want == theirBase // this drift, or all of them
		same := got == want
		ourFailed, theirFailed := failedUnits(t, ours), failedUnits(t, theirs)

		// Where Puppet's apply does not repair (this drift or an earlier one) and the
		// continuous run does, they differ in the continuous run's favour (a status
		// command that answers otherwise a moment after the stop, say).
		sameText := yesNo(same)
		switch {
		case same:
		case repaired && !puppetRepaired:
			sameText = "no: only mgmt-puppet repaired"
		case repaired && theirPre != theirBase:
			sameText = "no: puppet apply left an earlier drift"
		case !sameCatalog:
			sameText = "no: puppet apply's catalog changed with the facts"
		default:
			t.Errorf("%s: the continuous run and puppet apply (exit %d) end in different states:\n%s\ndaemon's log since the drift:\n%s",
				d.name, code, lineDiff(want, got), log)
		}
		switch {
		case !repaired && puppetRepaired && sameCatalog:
			t.Errorf("%s: not repaired within %v, which puppet apply repairs\n%s", d.name, driftRepairBound, lineDiff(base, got))
		case !repaired:
			// Shown, not failed: where Puppet's apply does not repair either (or
			// compiled another catalog), the table's row needs the reason.
			t.Logf("%s: not repaired within %v; the state against the first apply's:\n%s\ndaemon's log since the drift:\n%s", d.name, driftRepairBound, lineDiff(base, got), log)
		}
		if fights > 0 {
			t.Errorf("%s: %d fights\n%s", d.name, fights, log)
		}
		for _, u := range ourFailed {
			if !strings.Contains(strings.Join(theirFailed, " "), u) {
				t.Errorf("%s: unit %s failed, which puppet apply leaves running\n%s", d.name, u, log)
			}
		}
		t.Logf("%s %s: repaired %v in %v (%d fights); puppet apply exit %d in %.1f s, repaired %v\n%s",
			c, d.name, repaired, took.Round(time.Millisecond), fights, code, theirTime.Seconds(), puppetRepaired, out)
		ourTime := "not within " + driftRepairBound.String()
		if repaired {
			ourTime = fmt.Sprintf("%.2f s", took.Seconds())
		}
		row(fmt.Sprintf("| %s | %s | %s | %s | %.2f s | %s | %.1f s | %s | %d | %s / %s |", c, d.name, yesNo(repaired), ourTime,
			poll.Seconds(), yesNo(puppetRepaired), theirTime.Seconds(), sameText, fights, unitList(ourFailed), unitList(theirFailed)))
	}
}

// awaitRepair waits, driftRepairBound at most, until the daemon's log has been
// quiet for two seconds and the state is one of repaired (the base, or the state
// before this drift). It returns the last state seen, whether it is one of them,
// and the time from start to the daemon's last line
// after size (the repair's last change; the log is read from the host every
// 20 ms) or, when it logged nothing, to the look that found the state back.
func awaitRepair(t *testing.T, tb *testbed.Testbed, state string, repaired []string, daemonLog func() string, size int, start time.Time) (string, bool, time.Duration) {
	t.Helper()
	grew := time.Time{}
	if len(daemonLog()) != size {
		size, grew = len(daemonLog()), time.Now() // during the drift
	}
	var got string
	for time.Since(start) < driftRepairBound {
		time.Sleep(20 * time.Millisecond)
		if n := len(daemonLog()); n != size {
			size, grew = n, time.Now()
			continue
		}
		if time.Since(grew) < 2*time.Second {
			continue
		}
		if got, _ = tb.Exec(t, "sh", "-c", state); slices.Contains(repaired, got) && len(daemonLog()) == size {
			if grew.IsZero() {
				return got, true, time.Since(start)
			}
			return got, true, grew.Sub(start)
		}
	}
	return got, false, time.Since(start)
}

// sameResources reports whether a and b have the same resources with the same
// parameters.
func sameResources(a, b *catalog.Catalog) bool {
	if len(a.Resources) != len(b.Resources) {
		return false
	}
	for i, r := range a.Resources {
		o := b.Resources[i]
		if r.Ref() != o.Ref() || !reflect.DeepEqual(r.Parameters, o.Parameters) {
			return false
		}
	}
	return true
}

// waitLog waits up to bound for text in the daemon's log.
func waitLog(t *testing.T, daemonLog func() string, text string, bound time.Duration) {
	t.Helper()
	for start := time.Now(); !strings.Contains(daemonLog(), text); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > bound {
			t.Fatalf("no %q within %v\n%s", text, bound, daemonLog())
		}
	}
}

// quiet waits until the daemon's log has not grown for two seconds, 30 s at most:
// the repairs that follow a drift (a restart a change notifies, a dependent
// skipped before) are done.
func quiet(daemonLog func() string) {
	last, since := len(daemonLog()), time.Now()
	for start := time.Now(); time.Since(since) < 2*time.Second && time.Since(start) < 30*time.Second; time.Sleep(100 * time.Millisecond) {
		if n := len(daemonLog()); n != last {
			last, since = n, time.Now()
		}
	}
}

// failedUnits lists the units systemd has failed in tb.
func failedUnits(t *testing.T, tb *testbed.Testbed) []string {
	out, _ := tb.Exec(t, "systemctl", "list-units", "--failed", "--plain", "--no-legend")
	var units []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			units = append(units, f[0])
		}
	}
	return units
}

func unitList(units []string) string {
	if len(units) == 0 {
		return "none"
	}
	return strings.Join(units, " ")
}

// corpusDrift is one drift of the suite: a name for the table and the shell
// script that makes it.
type corpusDrift struct{ name, script string }

// corpusDrifts picks the suite's drifts for cat: every running service stopped
// (those the catalog keeps running that are active);
// the configuration of a service deleted (a file with content that notifies it,
// directly or through the classes that contain them); another managed file edited
// and one more deleted (Files first, then puppetlabs-concat's targets); the first package the catalog installs removed with apt.
// Drifts the catalog has nothing for are left out.
func corpusDrifts(cat *catalog.Catalog) []corpusDrift {
	var services, files, concats, packages []catalog.Resource
	for _, r := range cat.Resources {
		switch r.Type {
		case "Concat_file":
			if r.Parameters["replace"] != false && r.Parameters["ensure"] != "absent" {
				concats = append(concats, r)
			}
		case "Service":
			if e, _ := r.Parameters["ensure"].(string); e == "running" {
				services = append(services, r)
			}
		case "File":
			_, content := r.Parameters["content"]
			_, source := r.Parameters["source"]
			e, _ := r.Parameters["ensure"].(string)
			// replace => false: Puppet leaves an existing file's content alone.
			if r.Parameters["replace"] == false {
				continue
			}
			if (content || source) && e != "absent" && e != "directory" && e != "link" {
				files = append(files, r)
			}
		case "Package":
			switch e, _ := r.Parameters["ensure"].(string); e {
			case "present", "installed", "latest", "":
				packages = append(packages, r)
			}
		}
	}
	notifies := refreshTargets(cat)
	var drifts []corpusDrift
	if len(services) > 0 {
		var b strings.Builder
		for _, s := range services {
			// Only what runs: a unit whose package could not be installed is not there.
			n := shellQuote(managed{Params: s.Parameters, Title: s.Title}.name("name"))
			fmt.Fprintf(&b, "if systemctl is-active -q %s; then systemctl stop %s; fi\n", n, n)
		}
		drifts = append(drifts, corpusDrift{"every service stopped", b.String()})
	}
	path := func(r catalog.Resource) string {
		return shellQuote(managed{Params: r.Parameters, Title: r.Title}.name("path"))
	}
	// puppetlabs-concat's targets where no File is left: pg_hba.conf, sshd_config.
	files = append(files, concats...)
	used := map[string]bool{}
	for _, f := range files {
		if notifies[f.Ref()]["Service"] {
			used[f.Ref()] = true
			drifts = append(drifts, corpusDrift{"a service's configuration deleted (" + f.Title + ")", "rm -f " + path(f) + "\n"})
			break
		}
	}
	for _, kind := range []string{"edited", "deleted"} {
		for _, f := range files {
			if used[f.Ref()] {
				continue
			}
			used[f.Ref()] = true
			script := "echo '# drift' >>" + path(f) + "\n"
			if kind == "deleted" {
				script = "rm -f " + path(f) + "\n"
			}
			drifts = append(drifts, corpusDrift{"a managed file " + kind + " (" + f.Title + ")", script})
			break
		}
	}
	if len(packages) > 0 {
		p := managed{Params: packages[0].Parameters, Title: packages[0].Title}.name("name")
		drifts = append(drifts, corpusDrift{"a package removed (" + p + ")",
			"DEBIAN_FRONTEND=noninteractive apt-get remove -y -q " + shellQuote(p) + " >/dev/null\n"})
	}
	return drifts
}

// refreshTargets maps every resource to the types of the resources its changes
// refresh (notify, subscribe), through the classes and defined types that contain
// either end, as Puppet's containment passes events.
func refreshTargets(cat *catalog.Catalog) map[string]map[string]bool {
	children := map[string][]string{}
	for _, e := range cat.Edges {
		children[e.Source] = append(children[e.Source], e.Target)
	}
	types := map[string]string{}
	for _, r := range cat.Resources {
		types[r.Ref()] = r.Type
	}
	// expand lists ref and everything it contains.
	var expand func(ref string, out map[string]bool)
	expand = func(ref string, out map[string]bool) {
		if out[ref] {
			return
		}
		out[ref] = true
		for _, c := range children[ref] {
			expand(c, out)
		}
	}
	targets := map[string]map[string]bool{}
	link := func(from, to string) {
		src, dst := map[string]bool{}, map[string]bool{}
		expand(from, src)
		expand(to, dst)
		for s := range src {
			if targets[s] == nil {
				targets[s] = map[string]bool{}
			}
			for d := range dst {
				targets[s][types[d]] = true
			}
		}
	}
	for _, r := range cat.Resources {
		for _, ref := range refs(r.Parameters["notify"]) {
			link(r.Ref(), ref)
		}
		for _, ref := range refs(r.Parameters["subscribe"]) {
			link(ref, r.Ref())
		}
	}
	return targets
}

// refs reads a relationship parameter: one reference or a list of them.
func refs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// TestCorpusDriftsPicked checks what the suite drifts in catalogs of each kind:
// a Concat target (pg_hba.conf, sshd_config) where no File is left, a File with
// replace => false never.
func TestCorpusDriftsPicked(t *testing.T) {
	for _, tc := range []struct {
		c    string
		want []string
	}{
		{"db-server", []string{
			"every service stopped",
			"a service's configuration deleted (/etc/redis/redis.conf.puppet)",
			"a managed file edited (/etc/postgresql/15/main/pg_hba.conf)",
			"a managed file deleted (/etc/postgresql/15/main/pg_ident.conf)",
			"a package removed (postgresql-15)",
		}},
		{"ssh-params", []string{
			"every service stopped",
			"a service's configuration deleted (/etc/ssh/sshd_config)",
			"a managed file edited (/etc/ssh/ssh_config)",
			"a package removed (openssh-server)",
		}},
		{"apache-params", []string{
			"every service stopped",
			"a service's configuration deleted (/etc/apache2/apache2.conf)",
			"a managed file edited (reqtimeout.conf)",
			"a managed file deleted (cgid.conf)",
			"a package removed (apache2)",
		}},
		{"postfix-params", []string{ // /etc/aliases has replace => false
			"every service stopped",
			"a service's configuration deleted (/etc/mailname)",
			"a managed file edited (/etc/postfix/master.cf)",
			"a managed file deleted (postfix map /etc/postfix/sasl_passwd)",
			"a package removed (postfix)",
		}},
	} {
		cat, err := catalog.ReadFile(filepath.Join(moduleRoot(t), "fixtures", "corpus", tc.c, "catalog.json"))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range corpusDrifts(cat) {
			got = append(got, d.name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: drifts %q, want %q", tc.c, got, tc.want)
		}
	}
}

// firstLine is the first line of out that says something, for a table cell.
func firstLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return strings.ReplaceAll(l, "|", "/")
		}
	}
	return "no output"
}
