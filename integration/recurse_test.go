package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recurseStrays puts, under root, what is there before the recurse fixture's first
// apply: strays to purge (a file, a dot file, a directory with a file in it), an
// ignored file, a copy with old content and mode, local extras beside remote and
// limited recursion, and files whose mode the perms directory sets.
func recurseStrays(t *testing.T, root string) {
	t.Helper()
	base := filepath.Join(root, "recurse")
	files := []struct {
		path, content string
		mode          os.FileMode
	}{
		{"copy/stray.txt", "stray\n", 0o644},
		{"copy/.hidden", "hidden\n", 0o644},
		{"copy/olddir/x", "x\n", 0o644},
		{"copy/keep.bak", "ignored, kept\n", 0o600},
		{"copy/sub/b.conf", "old\n", 0o644},
		{"limited/extra", "stays\n", 0o644},
		{"remote/stray", "stays\n", 0o644},
		{"perms/one", "1\n", 0o600},
		{"perms/d/two", "2\n", 0o755},
		{"purged/junk", "junk\n", 0o644},
		{"purged/old/f", "f\n", 0o644},
	}
	for _, f := range files {
		p := filepath.Join(base, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.content), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(base, "perms", "d"), 0o700); err != nil {
		t.Fatal(err)
	}
}

// TestRecurseMatchesPuppetApply applies the recurse fixture with mgmt-puppet and
// with real `puppet apply MANIFEST` (which serves puppet:/// from its module path;
// `puppet apply --catalog` has no file server) over the same strays, then again,
// then after both copies drifted (an edited copy, new strays, a mode changed);
// trees, log lines and exit codes must be the same each time.
func TestRecurseMatchesPuppetApply(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	modules := filepath.Join(moduleRoot(t), "fixtures", "modules")
	ours, theirs := t.TempDir(), t.TempDir()
	catalog, manifest := fixtureCatalog(t, "recurse", ours), fixtureManifest(t, "recurse", theirs)
	for _, root := range []string{ours, theirs} {
		recurseStrays(t, root)
	}
	for pass := 1; pass <= 3; pass++ {
		if pass == 3 {
			for _, root := range []string{ours, theirs} {
				base := filepath.Join(root, "recurse")
				for path, content := range map[string]string{
					"copy/sub/deep/c.conf": "edited\n", "copy/new-stray": "new\n",
					"purged/again/x": "again\n", "copy/explicit.conf": "drift\n",
				} {
					p := filepath.Join(base, path)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Chmod(filepath.Join(base, "perms", "one"), 0o666); err != nil {
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
		if pass == 1 && len(gl) < 20 {
			t.Errorf("pass 1: only %d log lines:\n  %s", len(gl), strings.Join(gl, "\n  "))
		}
	}
}

// TestRecurseDriftRepairedByEvent keeps the recurse fixture converged with
// mgmt-puppet and then adds a stray file to the purged directory and edits a
// recursed copy: both must be repaired through the watches, without a new run.
func TestRecurseDriftRepairedByEvent(t *testing.T) {
	bin := binary(t)
	modules := filepath.Join(moduleRoot(t), "fixtures", "modules")
	root := t.TempDir()
	cmd := exec.Command(bin, "run", "--color", "false", "--converged-timeout", "-1",
		"--modulepath", modules, fixtureCatalog(t, "recurse", root))
	out := startProcess(t, cmd, 5*time.Second)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("no %s within 10 s\n%s", what, out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("%s after %v", what, time.Since(start))
	}
	waitFor("first pass", func() bool { return strings.Contains(out.String(), "Applied catalog") })
	base := filepath.Join(root, "recurse")
	stray := filepath.Join(base, "purged", "stray")
	if err := os.WriteFile(stray, []byte("stray\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("stray purged", func() bool { _, err := os.Lstat(stray); return os.IsNotExist(err) })
	copied := filepath.Join(base, "copy", "sub", "b.conf")
	if err := os.WriteFile(copied, []byte("edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("copy repaired", func() bool {
		data, _ := os.ReadFile(copied)
		info, err := os.Stat(copied)
		return string(data) == "beta\n" && err == nil && info.Mode().Perm() == 0o640
	})
	for _, line := range []string{
		"Notice: /Stage[main]/Main/File[" + stray + "]/ensure: removed",
		"Notice: /Stage[main]/Main/File[" + copied + "]/content: content changed",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("no %q in\n%s", line, out.String())
		}
	}
}
