package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mgmt-puppet/mgmt-puppet/compare"
	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// TestCompareAgrees runs `mgmt-puppet compare` (real puppet apply --noop beside
// mgmt-puppet's noop) on fixture catalogs: on an empty root, and on a root that
// mgmt-puppet applied and that then drifted. Both tools must agree on every
// resource and property, and neither may change anything.
func TestCompareAgrees(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	type out struct {
		Agree       bool  `json:"agree"`
		Resources   int   `json:"resources"`
		OutOfSync   int   `json:"out_of_sync"`
		Differences []any `json:"differences"`
	}
	compareJSON := func(t *testing.T, catalog string) out {
		t.Helper()
		r := runCommand(t, bin, "compare", "--json", catalog)
		var o out
		if err := json.Unmarshal([]byte(r.out), &o); err != nil {
			t.Fatalf("exit %d, output is not JSON: %v\n%s", r.code, err, r.out)
		}
		if r.code != 0 || !o.Agree {
			t.Fatalf("exit %d, want 0 (agree):\n%s", r.code, r.out)
		}
		return o
	}
	for _, name := range []string{"basic", "refresh", "failure", "stages", "noopmeta"} {
		t.Run(name+"/empty", func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			o := compareJSON(t, fixtureCatalog(t, name, root))
			if o.OutOfSync == 0 {
				t.Errorf("nothing out of sync on an empty root: %+v", o)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("compare changed the root: %d entries", len(entries))
			}
		})
	}
	t.Run("refresh/drifted", func(t *testing.T) {
		root := t.TempDir()
		catalog := fixtureCatalog(t, "refresh", root)
		if r := runCommand(t, bin, "run", catalog); r.code != 0 {
			t.Fatalf("apply: exit %d\n%s", r.code, r.out)
		}
		base := filepath.Join(root, "refresh")
		if err := os.WriteFile(filepath.Join(base, "a.conf"), []byte("drift\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(base, "conf.d", "one.conf")); err != nil {
			t.Fatal(err)
		}
		o := compareJSON(t, catalog)
		if o.OutOfSync < 2 {
			t.Errorf("drift not seen: %+v", o)
		}
		if got, _ := os.ReadFile(filepath.Join(base, "a.conf")); string(got) != "drift\n" {
			t.Errorf("compare repaired a.conf: %q", got)
		}
	})
	t.Run("text", func(t *testing.T) {
		r := runCommand(t, bin, "compare", fixtureCatalog(t, "basic", t.TempDir()))
		if r.code != 0 || !regexpMatch(`(?m)^AGREE: 9 resources, 8 out of sync; puppet took [0-9.]+ s, mgmt-puppet [0-9.]+ s$`, r.out) {
			t.Errorf("exit %d:\n%s", r.code, r.out)
		}
	})
}

// TestCompareModules runs `mgmt-puppet compare` with its default module path
// (Debian's, as `run`) on a catalog of module types and of resources that each
// tool must read on this host as Puppet 7.23 does: a File_line and Anchors
// (stdlib, so that puppet needs the module path), a Service whose unit does not
// exist (stopped, also where systemd is not PID 1 and Puppet uses its debian
// provider), and Package[sl], latest and not installed. Both must agree, say the
// same noop lines, and change nothing.
func TestCompareModules(t *testing.T) {
	requirePuppet(t)
	if _, err := os.Stat("/usr/share/puppet/modules/stdlib"); err != nil {
		testenv.Missing(t, "stdlib is not installed (apt-get install puppet-module-puppetlabs-stdlib)")
	}
	bin := binary(t)
	root, keep := t.TempDir(), t.TempDir()
	r := runCommand(t, bin, "compare", "--keep-reports", keep, fixtureCatalog(t, "compare-modules", root))
	if r.code != 0 || !regexpMatch(`(?m)^AGREE: 8 resources, 6 out of sync;`, r.out) {
		t.Errorf("exit %d, want 0 (agree on 8 resources, 6 out of sync):\n%s", r.code, r.out)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("compare changed the root: %d entries", len(entries))
	}

	const (
		service = "/Stage[main]/Main/Service[mgmt-puppet-compare-nosuch]/ensure: current_value 'stopped', should be 'running' (noop)"
		pkg     = "/Stage[main]/Main/Package[sl]/ensure: current_value 'purged', should be 'latest' (noop)"
		line    = "/Stage[main]/Main/File_line[app port]/ensure: current_value 'absent', should be 'present' (noop)"
	)
	slInstalled := exec.Command("dpkg-query", "-W", "--showformat", "${Status}", "sl").Run() == nil
	var lines [2][]string
	for i, name := range []string{"puppet.yaml", "mgmt-puppet.yaml"} {
		data, err := os.ReadFile(filepath.Join(keep, name))
		if err != nil {
			t.Fatal(err)
		}
		lines[i] = noopLines(t, data)
		for _, want := range []string{service, pkg, line} {
			if want == pkg && slInstalled {
				continue
			}
			if !contains(lines[i], want) {
				t.Errorf("%s: no line %q in\n%s", name, want, strings.Join(lines[i], "\n"))
			}
		}
		s, err := compare.ReadReport(strings.NewReader(string(data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"Anchor[compare-modules::begin]", "Anchor[compare-modules::end]"} {
			if a := s[ref]; a.Skipped || a.Failed || len(a.Changes) != 0 {
				t.Errorf("%s: %s: %+v, want in sync", name, ref, a)
			}
		}
		if sv := s["Service[mgmt-puppet-compare-nosuch]"]; sv.Failed || sv.Changes["ensure"].Status != "noop" {
			t.Errorf("%s: the service: %+v, want out of sync (noop)", name, sv)
		}
	}
	if !reflect.DeepEqual(lines[0], lines[1]) {
		t.Errorf("noop lines differ:\npuppet:\n%s\nmgmt-puppet:\n%s", strings.Join(lines[0], "\n"), strings.Join(lines[1], "\n"))
	}
}

// TestCompareServicesOfThisHost compares, in noop, every init script of this host
// as a Service, running and enabled, then disabled, and a service that does not
// exist: both tools must read each one's status and enabled state alike (where
// systemd is not PID 1 Puppet uses its debian provider: `service NAME status`,
// invoke-rc.d's query, the rc links).
func TestCompareServicesOfThisHost(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	entries, err := os.ReadDir("/etc/init.d")
	if err != nil || len(entries) == 0 {
		t.Fatalf("no init scripts to compare: %v", err)
	}
	for _, want := range []string{"ensure => running, enable => true", "enable => false"} {
		var m strings.Builder
		for _, e := range entries {
			if !e.IsDir() && !strings.ContainsAny(e.Name(), "'\\") {
				m.WriteString("service { '" + e.Name() + "': " + want + " }\n")
			}
		}
		m.WriteString("service { 'mgmt-puppet-compare-nosuch': " + want + " }\n")
		catalog := compileManifest(t, m.String())
		r := runCommand(t, bin, "compare", "--modulepath", "", catalog)
		if r.code != 0 {
			t.Errorf("%s: exit %d, want 0 (agree):\n%s", want, r.code, r.out)
		}
	}
}

// compileManifest compiles manifest with real Puppet (no module path) and returns
// the catalog's file.
func compileManifest(t *testing.T, manifest string) string {
	t.Helper()
	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "site.pp"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("puppet", "catalog", "find", "compare.example", "--terminus", "compiler", "--render-as", "json",
		"--manifest", filepath.Join(tmp, "site.pp"), "--confdir", filepath.Join(tmp, "conf"), "--vardir", filepath.Join(tmp, "var"),
		"--codedir", filepath.Join(tmp, "code"), "--basemodulepath", filepath.Join(tmp, "modules"), "--log_level", "warning")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("puppet catalog find: %v\n%s", err, out)
	}
	path := filepath.Join(tmp, "catalog.json")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// noopLines are a report's noop lines ("SOURCE: current_value ..., should be ...
// (noop)"), sorted.
func noopLines(t *testing.T, report []byte) []string {
	t.Helper()
	var rep struct {
		Logs []struct{ Source, Message string } `yaml:"logs"`
	}
	if err := yaml.Unmarshal(report, &rep); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range rep.Logs {
		if strings.HasSuffix(l.Message, " (noop)") {
			out = append(out, l.Source+": "+l.Message)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
