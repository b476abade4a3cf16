package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/integration/testbed"
)

// corpusCI are the corpus cases CI applies in the testbed: modules of every kind
// (packages, services, templates, concat, purges, execs, module types run by
// Puppet) within CI's time. CORPUS_CASES=all (make corpus) runs every case, or a
// comma-separated list of cases.
var corpusCI = []string{"web-stack", "site-purge", "memcached-params", "ntp-params", "ssh-params", "redis-params", "sysctl-params", "logrotate-params", "haproxy-params", "apache-params"}

// corpusFacts gives the containers, which have only a loopback interface, the
// address fact that modules' defaults use (corosync's bind_address), the same in
// both.
const corpusFacts = "FACTER_ipaddress=192.0.2.10"

// corpusModulePath is the module path in the corpus image: Debian's modules, and
// the two that Debian installs under another name than the one Puppet loads
// (fixtures/corpus/README.md).
const corpusModulePath = "/usr/share/puppet/modules:/root/corpus/alias"

// TestCorpusMatchesPuppetInTestbed applies corpus cases with mgmt-puppet in one
// real-systemd container and with `puppet apply` in a second copy of the same image:
// a first apply, a no-op re-apply, and a re-apply after the same drift (managed
// files edited and one deleted, running services stopped). Exit codes
// (--detailed-exitcodes), log lines and the state of every managed resource, and the
// list of installed packages, must agree; before the last apply, `mgmt-puppet
// compare` must agree with Puppet on the drifted host. Puppet compiles the case's
// manifest in each container, with the same node name and facts, so both apply the
// same catalog; Puppet's own apply serves puppet:/// sources, which `puppet apply
// --catalog` cannot. With CORPUS_TESTBED_TABLE=FILE a table of agreement and
// times goes to FILE.
func TestCorpusMatchesPuppetInTestbed(t *testing.T) {
	requirePuppet(t)
	cases := corpusSelection(t, corpusCI)
	var rows []string
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			row := "| " + c + " | stopped: see the test's log | | | | | | | | | | |"
			defer func() { rows = append(rows, row) }() // also when the case stops
			row = corpusInTestbed(t, c)
		})
		writeTable(t, "CORPUS_TESTBED_TABLE", "| case | resources | first apply: agree | puppet | mgmt-puppet | no-op: agree | puppet | mgmt-puppet | compare after drift | after drift: agree | puppet | mgmt-puppet |", rows)
	}
}

// corpusInTestbed runs one case and returns its table row.
func corpusInTestbed(t *testing.T, c string) string {
	manifest, err := os.ReadFile(filepath.Join(moduleRoot(t), "fixtures", "corpus", c, "manifest.pp"))
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := testbed.StartFlavor(t, testbed.Corpus), testbed.StartFlavor(t, testbed.Corpus)
	for _, tb := range []*testbed.Testbed{ours, theirs} {
		setupCorpus(t, tb, manifest)
	}
	bin, _ := inTestbed(t, ours, "basic") // the binary; the basic catalog is not used
	catPath := compileInTestbed(t, ours)
	cat, err := catalog.ReadFile(filepath.Join(ours.Root, catPath))
	if err != nil {
		t.Fatal(err)
	}
	resources := managedResources(cat)
	row := fmt.Sprintf("| %s | %d |", c, len(resources))
	state := stateScript(resources)
	for pass, name := range []string{"first apply", "no-op re-apply", "after drift"} {
		if pass == 2 {
			drift := driftScript(resources)
			for _, tb := range []*testbed.Testbed{ours, theirs} {
				if out, code := tb.Exec(t, "sh", "-c", drift); code != 0 {
					t.Fatalf("drift: %s", out)
				}
			}
			out, code := ours.Exec(t, bin, "compare", "--modulepath", corpusModulePath, catPath)
			verdict := "agree"
			if code != 0 {
				verdict = "NO"
				t.Errorf("compare after drift: exit %d\n%s", code, out)
			}
			row += " " + verdict + " |"
		}
		start := time.Now()
		got, gotCode := ours.Exec(t, bin, "run", "--color", "false", "--detailed-exitcodes", "--modulepath", corpusModulePath, catPath)
		ourTime := time.Since(start)
		start = time.Now()
		want, wantCode := theirs.Exec(t, "env", corpusFacts, "puppet", "apply", "--color", "false", "--detailed-exitcodes",
			"--certname", "corpus.example", "--basemodulepath", corpusModulePath, "/root/corpus/manifest.pp")
		theirTime := time.Since(start)
		agree := true
		if gotCode != wantCode {
			agree = false
			t.Errorf("%s: exit %d, puppet exit %d", name, gotCode, wantCode)
		}
		if g, w := corpusLines(got), corpusLines(want); strings.Join(g, "\n") != strings.Join(w, "\n") {
			agree = false
			t.Errorf("%s: log lines differ\nours:\n  %s\npuppet:\n  %s", name, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
		}
		g, _ := ours.Exec(t, "sh", "-c", state)
		w, _ := theirs.Exec(t, "sh", "-c", state)
		if g != w {
			agree = false
			t.Errorf("%s: state differs:\n%s", name, lineDiff(w, g))
		}
		t.Logf("%s %s: puppet %.1f s (exit %d), mgmt-puppet %.1f s (exit %d)", c, name, theirTime.Seconds(), wantCode, ourTime.Seconds(), gotCode)
		row += fmt.Sprintf(" %s | %.1f s | %.1f s |", yesNo(agree), theirTime.Seconds(), ourTime.Seconds())
	}
	return row
}

// setupCorpus puts the manifest and the module aliases into tb.
func setupCorpus(t *testing.T, tb *testbed.Testbed, manifest []byte) {
	t.Helper()
	dir := filepath.Join(tb.Root, "root/corpus")
	if err := os.MkdirAll(filepath.Join(dir, "alias"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.pp"), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	for alias, module := range map[string]string{"augeas": "augeas_core", "rsyslog": "saz-rsyslog"} {
		if err := os.Symlink("/usr/share/puppet/modules/"+module, filepath.Join(dir, "alias", alias)); err != nil {
			t.Fatal(err)
		}
	}
}

// compileInTestbed compiles the manifest in tb as puppet apply would for node
// corpus.example, and returns the catalog's path inside tb.
func compileInTestbed(t *testing.T, tb *testbed.Testbed) string {
	t.Helper()
	out, code := tb.Exec(t, "sh", "-c", corpusFacts+" puppet catalog find corpus.example --certname corpus.example --terminus compiler"+
		" --render-as rich_data_json --manifest /root/corpus/manifest.pp --basemodulepath "+corpusModulePath+
		" --log_level warning >/root/corpus/catalog.json 2>/root/corpus/compile.err")
	if code != 0 {
		errs, _ := os.ReadFile(filepath.Join(tb.Root, "root/corpus/compile.err"))
		t.Fatalf("compile in the testbed: exit %d: %s%s", code, out, errs)
	}
	return "/root/corpus/catalog.json"
}

// managed is one resource of a catalog whose state the test compares.
type managed struct {
	Type, Title string
	Params      map[string]any
}

// writeTable writes the Markdown table of header and rows to the file the
// environment variable env names, when it names one: after every case, so that a
// run stopped early keeps the rows it made.
func writeTable(t *testing.T, env, header string, rows []string) {
	path := os.Getenv(env)
	if path == "" {
		return
	}
	sep := strings.Repeat("|---", strings.Count(header, "|")-1) + "|"
	text := header + "\n" + sep + "\n" + strings.Join(rows, "\n") + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// managedResources lists the resources of cat whose state is compared: files
// (puppetlabs-concat's targets too), packages, services, users and groups.
func managedResources(cat *catalog.Catalog) []managed {
	var out []managed
	for _, r := range cat.Resources {
		switch r.Type {
		case "File", "Concat_file", "Package", "Service", "User", "Group":
			out = append(out, managed{Type: r.Type, Title: r.Title, Params: r.Parameters})
		}
	}
	return out
}

func (m managed) name(param string) string {
	if s, ok := m.Params[param].(string); ok && s != "" {
		return s
	}
	return m.Title
}

// stateScript prints the state of every managed resource and the installed packages.
func stateScript(rs []managed) string {
	var b strings.Builder
	for _, r := range rs {
		switch r.Type {
		case "File", "Concat_file":
			p := shellQuote(r.name("path"))
			_, content := r.Params["content"]
			_, source := r.Params["source"]
			if r.Type == "File" && !content && !source {
				// What the catalog does not manage, a package may make at random
				// (bind9's rndc.key), or a service may write to (an empty log
				// that a restart fills: stat's "regular empty file").
				fmt.Fprintf(&b, "echo %s: $(stat -c '%%F %%a %%U %%G' %s 2>&1 | sed 's/^regular empty file /regular file /');\n", p, p)
				continue
			}
			// Without the parsed-file header's time stamp, which differs from run to run.
			fmt.Fprintf(&b, "echo %s: $(stat -c '%%F %%a %%U %%G' %s 2>&1) $( [ -f %s ] && grep -v '^# HEADER: This file was autogenerated at ' %s | sha256sum);\n", p, p, p, p)
		case "Package":
			n := shellQuote(r.name("name"))
			fmt.Fprintf(&b, "echo package %s: $(dpkg-query -W -f '${db:Status-Abbrev} ${Version}' %s 2>&1);\n", n, n)
		case "Service":
			n := shellQuote(r.name("name"))
			// A unit that keeps failing is "failed" after Puppet's last try and
			// "activating" while systemd restarts it or the continuous run tries
			// again: both are a service that does not run.
			fmt.Fprintf(&b, "echo service %s: $(systemctl is-active %s | sed -e 's/^activating$/failed/') $(systemctl is-enabled %s 2>&1);\n", n, n, n)
		case "User":
			n := shellQuote(r.name("name"))
			fmt.Fprintf(&b, "echo user %s: $(getent passwd %s);\n", n, n)
		case "Group":
			n := shellQuote(r.name("name"))
			fmt.Fprintf(&b, "echo group %s: $(getent group %s);\n", n, n)
		}
	}
	b.WriteString("dpkg-query -W -f '${Package} ${db:Status-Abbrev} ${Version}\\n' | sort\n")
	return b.String()
}

// driftScript edits up to three managed files with content, deletes another, and
// stops every service the catalog keeps running.
func driftScript(rs []managed) string {
	var b strings.Builder
	b.WriteString("set +e\n")
	edited := 0
	deleted := false
	for _, r := range rs {
		switch r.Type {
		case "File":
			if _, ok := r.Params["content"]; !ok || r.Params["ensure"] == "absent" {
				continue
			}
			p := shellQuote(r.name("path"))
			if edited < 3 {
				fmt.Fprintf(&b, "[ -f %s ] && echo '# drift' >>%s\n", p, p)
				edited++
			} else if !deleted {
				fmt.Fprintf(&b, "[ -f %s ] && rm -f %s\n", p, p)
				deleted = true
			}
		case "Service":
			if e, _ := r.Params["ensure"].(string); e == "running" {
				fmt.Fprintf(&b, "systemctl stop %s\n", shellQuote(r.name("name")))
			}
		}
	}
	b.WriteString("exit 0\n")
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// corpusLines are the log lines of a run to compare: Puppet's compile lines (before
// "Compiled catalog") and mgmt-puppet's notes about the resources it hands to Puppet
// are left out.
func corpusLines(out string) []string {
	if i := strings.Index(out, "Notice: Compiled catalog for "); i >= 0 {
		out = out[i:]
	}
	var keep []string
	for _, l := range logLines(out, "/nonexistent") {
		if strings.HasPrefix(l, "Warning: ") && strings.HasSuffix(l, "not supported natively yet: Puppet runs this resource") {
			continue
		}
		for _, n := range volatile {
			l = n.re.ReplaceAllString(l, n.with)
		}
		if strings.HasPrefix(l, "<time> ") || strings.HasPrefix(l, "-- ") {
			// A journal line quoted in a failure: how many of them there are
			// depends on when the journal was read.
			continue
		}
		keep = append(keep, l)
	}
	sortStrings(keep)
	return keep
}

// volatile are the parts of systemd's status and journal, quoted in a failed
// service's error, that differ between any two runs: times and process IDs.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`since \w{3} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+; [^;]*? ago`), "since <time>"},
	{regexp.MustCompile(`\b(Main PID|Process|PID): \d+`), "$1: <pid>"},
	{regexp.MustCompile(`^\w{3} \d\d \d\d:\d\d:\d\d (\S+) ([^\[\s]+)\[\d+\]`), "<time> $1 $2[<pid>]"},
	{regexp.MustCompile(`\b(Tasks|Memory|CPU): .*`), "$1: <usage>"},
	// apt-key's temporary GnuPG home (Apt_key, run by Puppet).
	{regexp.MustCompile(`/tmp/apt-key-gpghome\.\w+`), "/tmp/apt-key-gpghome.<tmp>"},
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	count := map[string]int{}
	for _, l := range strings.Split(want, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(got, "\n") {
		count[l]--
	}
	var out []string
	for l, n := range count {
		switch {
		case n > 0:
			out = append(out, "- puppet:      "+l)
		case n < 0:
			out = append(out, "+ mgmt-puppet: "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
