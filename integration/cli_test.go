package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// brokenCatalog is basic's real catalog with a dangling reference and a cycle added.
func brokenCatalog(t *testing.T, root string) string {
	t.Helper()
	path := fixtureCatalog(t, "basic", root)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cat map[string]any
	if err := json.Unmarshal(data, &cat); err != nil {
		t.Fatal(err)
	}
	for _, r := range cat["resources"].([]any) {
		res := r.(map[string]any)
		params, _ := res["parameters"].(map[string]any)
		switch res["title"] {
		case root + "/basic/present.txt":
			params["require"] = "File[" + root + "/basic/nope]"
		case root + "/basic/etc":
			params["require"] = "File[" + root + "/basic/etc/app.conf]"
		}
	}
	out, err := json.Marshal(cat)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBadCatalogAppliesNothing(t *testing.T) {
	bin := binary(t)
	root := t.TempDir()
	malformed := filepath.Join(t.TempDir(), "malformed.json")
	if err := os.WriteFile(malformed, []byte(`{"resources": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, catalog string
		want          []string
	}{
		{"malformed", malformed, []string{"Error: Could not parse catalog", "malformed JSON at byte"}},
		{"dangling and cycle", brokenCatalog(t, root), []string{
			"Could not find resource 'File[" + root + "/basic/nope]' for relationship from 'File[" + root + "/basic/present.txt]'",
			"Found 1 dependency cycle: (File[" + root + "/basic/etc/app.conf] => File[" + root + "/basic/etc] => File[" + root + "/basic/etc/app.conf])",
			"has 2 problems; nothing was applied",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCommand(t, bin, "run", "--detailed-exitcodes", tc.catalog)
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.out, w) {
					t.Errorf("output lacks %q:\n%s", w, r.out)
				}
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("something was applied from an invalid catalog: %v", entries)
			}
		})
	}
}

func TestStdinWithCompileNotice(t *testing.T) {
	bin := binary(t)
	root := t.TempDir()
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "fixtures", "basic", "catalog-with-notice.txt"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--color", "false", "-")
	cmd.Stdin = bytes.NewReader(bytes.ReplaceAll(data, []byte(placeholder), []byte(root)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "basic", "etc", "app.conf")); err != nil {
		t.Errorf("catalog from stdin not applied: %v\n%s", err, out)
	}
}

func TestTranslateFormats(t *testing.T) {
	bin := binary(t)
	cat := fixtureCatalog(t, "system", placeholder)
	// system holds a Tidy, which has no native implementation: without Puppet it
	// cannot run (reported, exit 1); with Puppet it is run by Puppet.
	text := runCommand(t, bin, "translate", "--puppet", "/nonexistent/puppet", cat)
	if text.code != 1 || !strings.Contains(text.out, "type Tidy has no native implementation, and Puppet, which would run it, is not installed (Tidy[/tmp/mgmt-puppet-fixture/system/tmp])") {
		t.Errorf("translate text without puppet: exit %d\n%s", text.code, text.out)
	}
	requirePuppet(t)
	text = runCommand(t, bin, "translate", cat)
	if text.code != 0 || !strings.Contains(text.out, "/Stage[main]/Main/Tidy[/tmp/mgmt-puppet-fixture/system/tmp] (run by Puppet)") ||
		!regexp.MustCompile(`(?m)^Tidy +0 +0 +1 +0$`).MatchString(text.out) {
		t.Errorf("translate text: exit %d\n%s", text.code, text.out)
	}
	basic := fixtureCatalog(t, "refresh", placeholder)
	var js struct {
		Types    []map[string]any `json:"types"`
		Vertices []map[string]any `json:"vertices"`
		Edges    []map[string]any `json:"edges"`
	}
	r := runCommand(t, bin, "translate", "--format", "json", basic)
	if r.code != 0 {
		t.Fatalf("translate json: exit %d\n%s", r.code, r.out)
	}
	if err := json.Unmarshal([]byte(r.out), &js); err != nil || len(js.Vertices) == 0 || len(js.Edges) == 0 {
		t.Errorf("translate json: %v\n%s", err, r.out)
	}
	dot := runCommand(t, bin, "translate", "--format", "dot", basic)
	if dot.code != 0 || !strings.HasPrefix(dot.out, "digraph") || !strings.Contains(dot.out, "style=dashed") {
		t.Errorf("translate dot: exit %d\n%s", dot.code, dot.out)
	}
	gv := filepath.Join(t.TempDir(), "graph.dot")
	root := t.TempDir()
	if r := runCommand(t, bin, "run", "--graphviz", gv, fixtureCatalog(t, "refresh", root)); r.code != 0 {
		t.Fatalf("run --graphviz: exit %d\n%s", r.code, r.out)
	}
	if data, err := os.ReadFile(gv); err != nil || !bytes.HasPrefix(data, []byte("digraph")) {
		t.Errorf("--graphviz file: %v %q", err, data)
	}
}

// TestDriftRepairedThenSIGTERM runs a catalog continuously, breaks files in the three
// ways an operator would, expects each repair in the log within a second, and in
// the rolling report as corrective changes, then stops the process with SIGTERM and
// expects a clean exit.
func TestDriftRepairedThenSIGTERM(t *testing.T) {
	bin := binary(t)
	root := t.TempDir()
	reportFile := filepath.Join(t.TempDir(), "report.yaml")
	cmd := exec.Command(bin, "run", "--color", "false", "--converged-timeout", "-1", "--report", reportFile,
		fixtureCatalog(t, "basic", root))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(what string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("output ended before %q", what)
				}
				if strings.Contains(l, what) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within 5 s", what)
			}
		}
	}
	expect("Applied catalog")
	conf := filepath.Join(root, "basic", "etc", "app.conf")
	script := filepath.Join(root, "basic", "run.sh")
	steps := []struct {
		name   string
		breakf func() error
		want   string
	}{
		{"delete", func() error { return os.Remove(conf) }, "File[" + conf + "]/ensure: defined content as"},
		{"edit", func() error { return os.WriteFile(conf, []byte("tampered\n"), 0o644) }, "File[" + conf + "]/content: content changed"},
		{"chmod", func() error { return os.Chmod(script, 0o600) }, "File[" + script + "]/mode: mode changed '0600' to '0755'"},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.breakf(); err != nil {
			t.Fatal(err)
		}
		expect(s.want)
		t.Logf("%s repaired in %v", s.name, time.Since(start))
		// The change is logged as it is made: let the repair land and its own
		// inotify echo be checked before breaking the next thing.
		time.Sleep(100 * time.Millisecond)
	}
	if data, err := os.ReadFile(conf); err != nil || string(data) != "setting = 1\n" {
		t.Errorf("after repair %s holds %q (%v)", conf, data, err)
	}
	// The rolling report is rewritten at most once a second: within a few, it must
	// tell the repairs as corrective changes.
	corrective := func() (bool, string) {
		data, err := os.ReadFile(reportFile)
		if err != nil {
			return false, err.Error()
		}
		var rep struct {
			Corrective bool `yaml:"corrective_change"`
			Statuses   map[string]struct {
				Corrective bool `yaml:"corrective_change"`
				Events     []struct {
					Property   string `yaml:"property"`
					Corrective bool   `yaml:"corrective_change"`
				} `yaml:"events"`
			} `yaml:"resource_statuses"`
		}
		if err := yaml.Unmarshal(data, &rep); err != nil {
			return false, err.Error()
		}
		st := rep.Statuses["File["+script+"]"]
		for _, ev := range st.Events {
			if ev.Property == "mode" && ev.Corrective {
				return rep.Corrective && st.Corrective, ""
			}
		}
		return false, fmt.Sprintf("no corrective mode event for %s yet", script)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ok, why := corrective(); !ok; ok, why = corrective() {
		if time.Now().After(deadline) {
			t.Fatalf("rolling report: %s", why)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit within 5 s of SIGTERM")
	}
}
