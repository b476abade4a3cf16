package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTidyMatchesPuppetApply runs a Tidy, which has no native implementation, through
// Puppet itself: the files it removes are resources Puppet generates, logged under
// their own paths. Both roots get the same files before each apply, as Puppet's
// tidy looks for them when the run starts.
func TestTidyMatchesPuppetApply(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	ours, theirs := filepath.Join(t.TempDir(), "root"), filepath.Join(t.TempDir(), "root")
	ourCatalog, theirCatalog := fixtureCatalog(t, "tidy", ours), fixtureCatalog(t, "tidy", theirs)
	for pass := 1; pass <= 2; pass++ {
		for _, root := range []string{ours, theirs} {
			logs := filepath.Join(root, "tidy", "logs")
			if err := os.MkdirAll(logs, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"a.log", "b.log", "keep.txt"} {
				if err := os.WriteFile(filepath.Join(logs, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		got := runCommand(t, bin, "run", "--color", "false", ourCatalog)
		want := puppetApply(t, theirCatalog)
		if got.code != want.code {
			t.Errorf("pass %d: exit %d, puppet exit %d", pass, got.code, want.code)
		}
		gl, wl := logLines(got.out, ours), logLines(want.out, theirs)
		if strings.Join(gl, "\n") != strings.Join(wl, "\n") {
			t.Errorf("pass %d: log lines differ\nours:\n  %s\npuppet:\n  %s", pass,
				strings.Join(gl, "\n  "), strings.Join(wl, "\n  "))
		}
		if !containsLine(gl, "/File["+placeholder+"/tidy/logs/a.log]/ensure: removed") {
			t.Errorf("pass %d: no removal of a.log logged:\n  %s", pass, strings.Join(gl, "\n  "))
		}
		if d := diffTrees(tree(t, theirs), tree(t, ours)); len(d) > 0 {
			t.Errorf("pass %d: trees differ:\n  %s", pass, strings.Join(d, "\n  "))
		}
	}
}

func containsLine(lines []string, part string) bool {
	for _, l := range lines {
		if strings.Contains(l, part) {
			return true
		}
	}
	return false
}

// TestDelegatedCheckedAgain keeps the tidy catalog converged with a short
// --delegate-interval: a log file that appears after the first pass is removed by
// the next Puppet run, since Puppet's types give no events.
func TestDelegatedCheckedAgain(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	root := t.TempDir()
	logs := filepath.Join(root, "tidy", "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--color", "false", "--converged-timeout", "-1",
		"--delegate-interval", "2s", fixtureCatalog(t, "tidy", root))
	out := startProcess(t, cmd, 30*time.Second)
	waitFor := func(what string, limit time.Duration, ok func() bool) {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > limit {
				t.Fatalf("no %s within %v\n%s", what, limit, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%s after %v", what, time.Since(start))
	}
	waitFor("first pass", 60*time.Second, func() bool { return strings.Contains(out.String(), "Applied catalog") })
	late := filepath.Join(logs, "late.log")
	if err := os.WriteFile(late, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The next check starts within 2 s; Puppet takes a few seconds to start.
	waitFor("late.log tidied", 60*time.Second, func() bool { _, err := os.Lstat(late); return os.IsNotExist(err) })
	line := "Notice: /Stage[main]/Main/File[" + late + "]/ensure: removed"
	waitFor("its line", 5*time.Second, func() bool { return strings.Contains(out.String(), line) })
}
