package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fidelityCase is a fixture catalog applied with the same options by both tools.
type fidelityCase struct {
	name, fixture string
	ours, puppet  []string // extra flags, each in its tool's spelling
}

// fidelityCases are the runs whose outcome must match puppet apply's.
var fidelityCases = []fidelityCase{
	{name: "basic", fixture: "basic"},
	{name: "refresh", fixture: "refresh"},
	{name: "failure", fixture: "failure"},
	{name: "stages", fixture: "stages"},
	{name: "aliases", fixture: "aliases"},
	{name: "tags", fixture: "tags"},
	{name: "tags-frontend", fixture: "tags", ours: []string{"--tags", "always,frontend"}, puppet: []string{"--tags", "always,frontend"}},
	{name: "skip-tags", fixture: "tags", ours: []string{"--skip-tags", "special,backend"}, puppet: []string{"--skip_tags", "special,backend"}},
	{name: "deferred", fixture: "deferred"},
	{name: "sensitive", fixture: "sensitive"},
	{name: "noopmeta", fixture: "noopmeta"},
	// noop: nothing changes on disk (both trees stay empty), and the lines say what
	// would have changed, including what each container would have triggered.
	{name: "noop-refresh", fixture: "refresh", ours: []string{"--noop"}, puppet: []string{"--noop"}},
	{name: "noop-basic", fixture: "basic", ours: []string{"--noop"}, puppet: []string{"--noop"}},
	{name: "noop-failure", fixture: "failure", ours: []string{"--noop"}, puppet: []string{"--noop"}},
	{name: "noop-stages", fixture: "stages", ours: []string{"--noop"}, puppet: []string{"--noop"}},
	{name: "noop-sensitive", fixture: "sensitive", ours: []string{"--noop"}, puppet: []string{"--noop"}},
}

// TestMatchesPuppetApply applies each fixture catalog with mgmt-puppet and with real
// puppet apply into separate roots, then compares the trees, the log lines and the
// exit codes; then applies both a second time (nothing left to change).
func TestMatchesPuppetApply(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	for _, tc := range fidelityCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ours, theirs := filepath.Join(t.TempDir(), "root"), filepath.Join(t.TempDir(), "root")
			for _, d := range []string{ours, theirs} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			ourCatalog, theirCatalog := fixtureCatalog(t, tc.fixture, ours), fixtureCatalog(t, tc.fixture, theirs)
			for pass := 1; pass <= 2; pass++ {
				got := runCommand(t, bin, append([]string{"run", "--color", "false", ourCatalog}, tc.ours...)...)
				want := puppetApply(t, theirCatalog, tc.puppet...)
				if got.code != want.code {
					t.Errorf("pass %d: exit %d, puppet exit %d\nours:\n%s\npuppet:\n%s", pass, got.code, want.code, got.out, want.out)
				}
				gl, wl := logLines(got.out, ours), logLines(want.out, theirs)
				if strings.Join(gl, "\n") != strings.Join(wl, "\n") {
					t.Errorf("pass %d: log lines differ\nours:\n  %s\npuppet:\n  %s", pass,
						strings.Join(gl, "\n  "), strings.Join(wl, "\n  "))
				}
				if d := diffTrees(tree(t, theirs), tree(t, ours)); len(d) > 0 {
					t.Errorf("pass %d: trees differ:\n  %s", pass, strings.Join(d, "\n  "))
				}
			}
		})
	}
}

// TestDetailedExitcodes checks the codes puppet agent gives: 2 changes, 4 failures,
// 6 both, 0 nothing to do.
func TestDetailedExitcodes(t *testing.T) {
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
			root := t.TempDir()
			cat := fixtureCatalog(t, tc.name, root)
			if r := runCommand(t, bin, "run", "--detailed-exitcodes", cat); r.code != tc.first {
				t.Errorf("first run: exit %d, want %d\n%s", r.code, tc.first, r.out)
			}
			if r := runCommand(t, bin, "run", "--detailed-exitcodes", cat); r.code != tc.then {
				t.Errorf("second run: exit %d, want %d\n%s", r.code, tc.then, r.out)
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
