package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fidelityCases are the fixture catalogs whose outcome must match puppet apply's.
var fidelityCases = []string{"basic", "refresh", "failure", "stages", "aliases", "tags", "deferred", "sensitive"}

// TestMatchesPuppetApply applies each fixture catalog with mgmt-puppet and with real
// puppet apply into separate roots, then compares the trees, the log lines and the
// exit codes; then applies both a second time (nothing left to change).
func TestMatchesPuppetApply(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	for _, name := range fidelityCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ours, theirs := filepath.Join(t.TempDir(), "root"), filepath.Join(t.TempDir(), "root")
			for _, d := range []string{ours, theirs} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			ourCatalog, theirCatalog := fixtureCatalog(t, name, ours), fixtureCatalog(t, name, theirs)
			for pass := 1; pass <= 2; pass++ {
				got := runCommand(t, bin, "run", "--color", "false", ourCatalog)
				want := puppetApply(t, theirCatalog)
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
