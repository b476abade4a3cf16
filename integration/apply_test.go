package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/compare"
	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// fidelityCase is a fixture catalog applied with the same options by both tools.
type fidelityCase struct {
	name, fixture string
	ours, puppet  []string // extra flags, each in its tool's spelling
	// setup, when set, prepares each root before the first apply.
	setup func(t *testing.T, root string)
	// recursed lists directories (under the placeholder root) whose children a
	// recursing File manages: Puppet reports each child as a resource, mgmt-puppet
	// only the File (docs/known-differences.md, File recursion).
	recursed []string
}

// debianModules is where Debian's puppet-module-* packages install modules.
const debianModules = "/usr/share/puppet/modules"

// fidelityCases are the runs whose outcome must match puppet apply's.
var fidelityCases = []fidelityCase{
	{name: "basic", fixture: "basic"},
	{name: "refresh", fixture: "refresh"},
	{name: "failure", fixture: "failure"},
	{name: "failure-class", fixture: "failure-class"},
	{name: "messages", fixture: "messages"},
	{name: "noop-messages", fixture: "messages", ours: []string{"--noop"}, puppet: []string{"--noop"}},
	// Anchor and Package have a refresh method that does nothing here.
	{name: "refreshaware", fixture: "refreshaware", puppet: []string{"--basemodulepath", debianModules}},
	{name: "stages", fixture: "stages"},
	{name: "aliases", fixture: "aliases"},
	{name: "tags", fixture: "tags"},
	{name: "tags-frontend", fixture: "tags", ours: []string{"--tags", "always,frontend"}, puppet: []string{"--tags", "always,frontend"}},
	{name: "skip-tags", fixture: "tags", ours: []string{"--skip-tags", "special,backend"}, puppet: []string{"--skip_tags", "special,backend"}},
	{name: "deferred", fixture: "deferred"},
	{name: "sensitive", fixture: "sensitive"},
	{name: "noopmeta", fixture: "noopmeta"},
	// Debian's real puppetlabs-concat and -stdlib: Puppet needs them on its module
	// path to apply their types; mgmt-puppet runs them natively.
	{name: "webnode", fixture: "webnode", puppet: []string{"--basemodulepath", debianModules}},
	// noop: nothing changes on disk (both trees stay empty), and the lines say what
	// would have changed, including what each container would have triggered.
	{name: "noop-refresh", fixture: "refresh", ours: []string{"--noop"}, puppet: []string{"--noop"}},
	{name: "noop-basic", fixture: "basic", ours: []string{"--noop"}, puppet: []string{"--noop"}},
	{name: "noop-failure", fixture: "failure", ours: []string{"--noop"}, puppet: []string{"--noop"}},
	{name: "noop-stages", fixture: "stages", ours: []string{"--noop"}, puppet: []string{"--noop"}},
	{name: "noop-sensitive", fixture: "sensitive", ours: []string{"--noop"}, puppet: []string{"--noop"}},
	// Host and Ssh_authorized_key (Debian's host_core and sshkeys_core) handed to
	// Puppet itself, in the graph among native resources; and the same catalog with
	// them native.
	{name: "delegated", fixture: "delegated", ours: []string{"--delegate-types", "Host,Ssh_authorized_key"},
		puppet: []string{"--basemodulepath", debianModules}},
	{name: "noop-delegated", fixture: "delegated", ours: []string{"--noop", "--delegate-types", "Host,Ssh_authorized_key"},
		puppet: []string{"--basemodulepath", debianModules, "--noop"}},
	{name: "delegated-native", fixture: "delegated", puppet: []string{"--basemodulepath", debianModules}},
	// Host and Ssh_authorized_key, native: records sharing a target, the header, modes.
	{name: "hostkeys", fixture: "hostkeys", puppet: []string{"--basemodulepath", debianModules}},
	{name: "noop-hostkeys", fixture: "hostkeys", ours: []string{"--noop"}, puppet: []string{"--basemodulepath", debianModules, "--noop"}},
	// Native types handed to Puppet all the same: refresh through containers and
	// failure skipping keep Puppet's semantics across the hand-over.
	{name: "refresh-by-puppet", fixture: "refresh", ours: []string{"--delegate-types", "Exec"}},
	{name: "failure-by-puppet", fixture: "failure", ours: []string{"--delegate-types", "Exec"}},
	{name: "noop-refresh-by-puppet", fixture: "refresh", ours: []string{"--noop", "--delegate-types", "Exec"}, puppet: []string{"--noop"}},
	// duritong-sysctl's Sysctl natively: records changed, removed, added.
	{name: "sysctl", fixture: "sysctl", puppet: []string{"--basemodulepath", debianModules}},
	{name: "noop-sysctl", fixture: "sysctl", ours: []string{"--noop"}, puppet: []string{"--basemodulepath", debianModules, "--noop"}},
	// File ensure failures in Puppet's words.
	{name: "fileerrors", fixture: "fileerrors", setup: fileerrorsSetup},
	// show_diff: the unified diff of a content about to change (the validated
	// file's, which validate_cmd then refuses), in noop too.
	{name: "show-diff", fixture: "fileerrors", ours: []string{"--show_diff"}, puppet: []string{"--show_diff"}, setup: fileerrorsSetup},
	{name: "noop-show-diff", fixture: "fileerrors", ours: []string{"--show_diff", "--noop"}, puppet: []string{"--show_diff", "--noop"}, setup: fileerrorsSetup},
	// richardc-datacat: a collector run by Puppet with the File it sets riding in
	// its run, its fragments given to it.
	{name: "datacat", fixture: "datacat", puppet: []string{"--basemodulepath", debianModules}},
	// mailalias_core's Mailalias natively.
	{name: "mailalias", fixture: "mailalias", puppet: []string{"--basemodulepath", debianModules}},
	{name: "noop-mailalias", fixture: "mailalias", ours: []string{"--noop"}, puppet: []string{"--basemodulepath", debianModules, "--noop"}},
	// puppetlabs-inifile's Ini_setting natively: on a new file, and on one that
	// needs only values changed, said as show_diff says (as they are, as an MD5,
	// redacted, Sensitive).
	{name: "inifile", fixture: "inifile", puppet: []string{"--basemodulepath", debianModules}},
	{name: "noop-inifile", fixture: "inifile", ours: []string{"--noop"}, puppet: []string{"--basemodulepath", debianModules, "--noop"}},
	{name: "inifile-values", fixture: "inifile", ours: []string{"--show_diff"}, puppet: []string{"--basemodulepath", debianModules, "--show_diff"}, setup: inifileValues},
	{name: "noop-inifile-values", fixture: "inifile", ours: []string{"--show_diff", "--noop"}, puppet: []string{"--basemodulepath", debianModules, "--show_diff", "--noop"}, setup: inifileValues},
	// Refresh events for a resource whose evaluation failed, refreshes that fail.
	{name: "refreshfail", fixture: "refreshfail"},
	{name: "noop-refreshfail", fixture: "refreshfail", ours: []string{"--noop"}, puppet: []string{"--noop"}},
	{name: "refreshfail-by-puppet", fixture: "refreshfail", ours: []string{"--delegate-types", "Exec"}},
	// Module types without a suitable provider here behind a failure: failed, as
	// Puppet fails them, not skipped.
	{name: "unsuitable", fixture: "unsuitable", puppet: []string{"--basemodulepath", debianModules}},
	{name: "noop-unsuitable", fixture: "unsuitable", ours: []string{"--noop"}, puppet: []string{"--basemodulepath", debianModules, "--noop"}},
	// A module type whose provider's prefetch fails (firewall without iptables), in
	// noop only: never a firewall rule written on the host.
	{name: "noop-prefetchfail", fixture: "prefetchfail", ours: []string{"--noop"}, puppet: []string{"--basemodulepath", debianModules, "--noop"}},
	// Resources without relationships that touch the same files keep Puppet's
	// order (docs/parallel-safety.md): purges and execs in the same directories.
	{name: "interfere", fixture: "interfere", setup: interfereStrays, recursed: []string{"interfere"}},
	{name: "interfere-serial", fixture: "interfere", ours: []string{"--serial"}, setup: interfereStrays, recursed: []string{"interfere"}},
}

// fileerrorsSetup makes what the fileerrors fixture fails on: directories
// where a file and a link should be, and a file whose new content validate_cmd
// refuses.
func fileerrorsSetup(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{"dir-as-file", "dir-as-link"} {
		if err := os.MkdirAll(filepath.Join(root, "fileerrors", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "fileerrors", "validated"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// inifileValues writes the inifile fixture's app.ini (which its File does not
// replace) as the fixture's first apply leaves it, but for four values: the
// apply then changes values only.
func inifileValues(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "inifile")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	content := "; app settings\nglobal_opt = 2\n\n[main]\n  port = 1\n  #workers = 4\n  workers = 8\n  host=localhost\n\n" +
		"[old]\n\n[db]\nname = app\n# user = nobody\nuser = app\npool = 7\npassword = other\n\n[tail]\nx = 1\ny = refreshed\n\n[cache]\nsize = 32M\n"
	if err := os.WriteFile(filepath.Join(dir, "app.ini"), []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

// interfereStrays puts in each purged directory of the interfere fixture the file
// that its exec would remove.
func interfereStrays(t *testing.T, root string) {
	t.Helper()
	for n := 1; n <= 8; n++ {
		dir := filepath.Join(root, "interfere", fmt.Sprintf("mods-%d", n))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "event.conf"), []byte("stray\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMatchesPuppetApply applies each fixture catalog with mgmt-puppet and with real
// puppet apply into separate roots, then compares the trees, the log lines, the
// exit codes and the changes each reports (resource by resource and property by
// property, from the two run reports); then applies both a second time (nothing
// left to change). With DIFFERENTIAL_TABLE=FILE the cases run one after another
// and a Markdown table of resources, agreement and times goes to FILE (`make
// differential`; the README shows it).
func TestMatchesPuppetApply(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	table := os.Getenv("DIFFERENTIAL_TABLE")
	rows := make([]string, len(fidelityCases))
	for i, tc := range fidelityCases {
		t.Run(tc.name, func(t *testing.T) {
			if table == "" {
				t.Parallel()
			}
			ours, theirs := filepath.Join(t.TempDir(), "root"), filepath.Join(t.TempDir(), "root")
			for _, d := range []string{ours, theirs} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tc.setup != nil {
				tc.setup(t, ours)
				tc.setup(t, theirs)
			}
			ourCatalog, theirCatalog := fixtureCatalog(t, tc.fixture, ours), fixtureCatalog(t, tc.fixture, theirs)
			reports := t.TempDir()
			ourReport, theirReport := filepath.Join(reports, "ours.yaml"), filepath.Join(reports, "theirs.yaml")
			row := fmt.Sprintf("| %s | %s |", tc.name, strings.Join(tc.ours, " "))
			for pass := 1; pass <= 2; pass++ {
				start := time.Now()
				got := runCommand(t, bin, append([]string{"run", "--color", "false", "--report", ourReport, ourCatalog}, tc.ours...)...)
				ourTime := time.Since(start)
				start = time.Now()
				want := puppetApply(t, theirCatalog, append([]string{"--lastrunreport", theirReport}, tc.puppet...)...)
				theirTime := time.Since(start)
				agree := true
				if got.code != want.code {
					agree = false
					t.Errorf("pass %d: exit %d, puppet exit %d\nours:\n%s\npuppet:\n%s", pass, got.code, want.code, got.out, want.out)
				}
				gl, wl := logLines(got.out, ours), logLines(want.out, theirs)
				if strings.Join(gl, "\n") != strings.Join(wl, "\n") {
					agree = false
					t.Errorf("pass %d: log lines differ\nours:\n  %s\npuppet:\n  %s", pass,
						strings.Join(gl, "\n  "), strings.Join(wl, "\n  "))
				}
				d := diffTrees(tree(t, theirs), tree(t, ours))
				sameState := len(d) == 0
				if !sameState {
					t.Errorf("pass %d: trees differ:\n  %s", pass, strings.Join(d, "\n  "))
				}
				var roots []string
				for _, dir := range tc.recursed {
					roots = append(roots, placeholder+"/"+dir)
				}
				changes := compare.WithoutGenerated(reportDiff(t, theirReport, ourReport, theirs, ours), roots)
				for _, d := range changes {
					t.Errorf("pass %d: reported changes differ: %s", pass, d)
				}
				resources := reportResources(t, ourReport)
				if pass == 1 {
					row += fmt.Sprintf(" %d |", resources)
				}
				row += fmt.Sprintf(" %s | %s | %.2f s | %.2f s |", yesNo(sameState), yesNo(agree && len(changes) == 0),
					theirTime.Seconds(), ourTime.Seconds())
			}
			rows[i] = row
		})
	}
	if table != "" {
		text := "| case | flags | resources | first apply: same state | same changes, logs, exit | puppet | mgmt-puppet | re-apply: same state | same changes, logs, exit | puppet | mgmt-puppet |\n" +
			"|---|---|---|---|---|---|---|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
		if err := os.WriteFile(table, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// reportDiff compares the changes two run reports tell, with each root put back to
// the placeholder.
func reportDiff(t *testing.T, theirs, ours, theirRoot, ourRoot string) []compare.Difference {
	t.Helper()
	read := func(path, root string) compare.State {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("report: %v", err)
		}
		s, err := compare.ReadReport(strings.NewReader(strings.ReplaceAll(string(data), root, placeholder)))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return s
	}
	return compare.Diff(read(theirs, theirRoot), read(ours, ourRoot))
}

// reportResources is the number of resources in a report.
func reportResources(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := compare.ReadReport(f)
	if err != nil {
		t.Fatal(err)
	}
	return len(s)
}

// TestDetailedExitcodes checks the codes puppet agent gives: 2 changes, 4 failures,
// 6 both, 0 nothing to do. `puppet apply --catalog` ignores --detailed-exitcodes,
// but `puppet apply MANIFEST` honours it: real Puppet applies each fixture's
// manifest twice beside mgmt-puppet applying its catalog, and the codes must match
// (and be the ones listed).
func TestDetailedExitcodes(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	for _, tc := range []struct {
		name        string
		first, then int
	}{
		{"basic", 2, 2}, // the Notify changes on every run
		{"failure", 6, 4},
		{"aliases", 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ours, theirs := t.TempDir(), t.TempDir()
			cat := fixtureCatalog(t, tc.name, ours)
			manifest := fixtureManifest(t, tc.name, theirs)
			for run, want := range []int{tc.first, tc.then} {
				got := runCommand(t, bin, "run", "--detailed-exitcodes", cat)
				puppet := puppetApplyManifest(t, manifest, "--detailed-exitcodes")
				if got.code != want || puppet.code != want {
					t.Errorf("run %d: exit %d, puppet exit %d, want %d\nours:\n%s\npuppet:\n%s",
						run+1, got.code, puppet.code, want, got.out, puppet.out)
				}
			}
		})
	}
}

// TestRejectedLikePuppet applies catalogs that Puppet refuses as a whole: both tools
// must exit 1 and leave the root untouched, and mgmt-puppet must name the resource
// and the parameter.
func TestRejectedLikePuppet(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	for _, tc := range []struct{ fixture, want string }{
		{"sensitive-nested", "Exec[nested sensitive env]: parameter environment: Invalid environment setting 'Sensitive [value redacted]'"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			ours, theirs := t.TempDir(), t.TempDir()
			got := runCommand(t, bin, "run", "--color", "false", fixtureCatalog(t, tc.fixture, ours))
			want := puppetApply(t, fixtureCatalog(t, tc.fixture, theirs))
			if got.code != 1 || want.code != 1 {
				t.Errorf("exit %d, puppet exit %d; want both 1\nours:\n%s\npuppet:\n%s", got.code, want.code, got.out, want.out)
			}
			if !strings.Contains(got.out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, got.out)
			}
			for _, root := range []string{ours, theirs} {
				if entries, _ := os.ReadDir(root); len(entries) != 0 {
					t.Errorf("%s: %d entries after a refused catalog", root, len(entries))
				}
			}
		})
	}
}

// TestSysctlRuntimeMatchesPuppet applies the sysctl-runtime fixture (running
// kernel parameters of the network namespace) with mgmt-puppet and with real
// puppet apply, each in a fresh network namespace: the same lines and exit code.
func TestSysctlRuntimeMatchesPuppet(t *testing.T) {
	requirePuppet(t)
	for _, c := range []string{"unshare", "sysctl"} {
		if _, err := exec.LookPath(c); err != nil {
			testenv.Missing(t, "%s not found", c)
		}
	}
	testenv.NeedRoot(t, "network namespaces")
	bin := binary(t)
	catalog := fixtureCatalog(t, "sysctl-runtime", t.TempDir())
	got := runCommand(t, "unshare", "--net", "--", bin, "run", "--color", "false", catalog)
	want := runCommand(t, "unshare", "--net", "--", "puppet", "apply", "--catalog", catalog, "--color", "false",
		"--basemodulepath", debianModules)
	if got.code != want.code {
		t.Errorf("exit %d, puppet exit %d", got.code, want.code)
	}
	gl, wl := logLines(got.out, "/nonexistent"), logLines(want.out, "/nonexistent")
	if strings.Join(gl, "\n") != strings.Join(wl, "\n") {
		t.Errorf("log lines differ\nours:\n  %s\npuppet:\n  %s", strings.Join(gl, "\n  "), strings.Join(wl, "\n  "))
	}
	if !strings.Contains(got.out, "Sysctl_runtime[net.ipv4.ip_forward]/val: val changed '0' to '1'") {
		t.Errorf("no change of ip_forward in a new network namespace:\n%s", got.out)
	}
}
