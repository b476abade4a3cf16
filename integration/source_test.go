package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSourceMatchesPuppetApply applies the source fixture (puppet:///modules/
// sources from fixtures/modules, a source list, a file:// source) with mgmt-puppet
// and with real `puppet apply MANIFEST`, which serves puppet:/// from its module
// path as an agent's server would (`puppet apply --catalog` has no file server),
// then again, then after both copies drifted; trees, log lines and exit codes must
// be the same each time.
func TestSourceMatchesPuppetApply(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	modules := filepath.Join(moduleRoot(t), "fixtures", "modules")
	ours, theirs := t.TempDir(), t.TempDir()
	catalog, manifest := fixtureCatalog(t, "source", ours), fixtureManifest(t, "source", theirs)
	for pass := 1; pass <= 3; pass++ {
		if pass == 3 {
			for _, root := range []string{ours, theirs} {
				if err := os.WriteFile(filepath.Join(root, "source", "motd.copy"), []byte("drift\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(filepath.Join(root, "source", "app.conf")); err != nil {
					t.Fatal(err)
				}
			}
		}
		got := runCommand(t, bin, "run", "--color", "false", "--modulepath", modules, catalog)
		want := puppetApplyManifest(t, manifest, "--basemodulepath", modules)
		if got.code != want.code {
			t.Errorf("pass %d: exit %d, puppet exit %d\nours:\n%s\npuppet:\n%s", pass, got.code, want.code, got.out, want.out)
		}
		gl, wl := logLines(got.out, ours), logLines(want.out, theirs)
		if strings.Join(gl, "\n") != strings.Join(wl, "\n") {
			t.Errorf("pass %d: log lines differ\nours:\n  %s\npuppet:\n  %s", pass, strings.Join(gl, "\n  "), strings.Join(wl, "\n  "))
		}
		if d := diffTrees(tree(t, theirs), tree(t, ours)); len(d) > 0 {
			t.Errorf("pass %d: trees differ:\n  %s", pass, strings.Join(d, "\n  "))
		}
	}
	// Without the module on the module path, the file fails as Puppet's does.
	r := runCommand(t, bin, "run", "--color", "false", "--modulepath", t.TempDir(), fixtureCatalog(t, "source", t.TempDir()))
	if !strings.Contains(r.out, "Could not evaluate: Could not retrieve information from environment production source(s) puppet:///modules/mpfix/motd") {
		t.Errorf("missing module: %s", r.out)
	}
}
