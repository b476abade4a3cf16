package integration

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestReportMatchesPuppet applies fixture catalogs with --report and --summary and
// compares the files with the reports real Puppet wrote for the same catalogs
// (fixtures/CASE/puppet-report.yaml and puppet-summary.yaml, recorded by
// `fixtures/apply-reference.sh report`): the same resources with the same flags,
// counts and events, the same log lines, the same metrics. Times, durations and
// the transaction UUID differ by nature and are left out.
func TestReportMatchesPuppet(t *testing.T) {
	bin := binary(t)
	type reportCase struct {
		name, fixture string
		flags         []string
		report        string // Puppet's report in the fixture's folder
		summary       string // and its summary, when recorded
	}
	var cases []reportCase
	for _, f := range []string{"basic", "refresh", "failure", "stages", "aliases", "tags", "sensitive", "deferred", "noopmeta", "webnode"} {
		cases = append(cases, reportCase{f, f, nil, "puppet-report.yaml", "puppet-summary.yaml"})
	}
	for _, f := range []string{"basic", "refresh", "failure", "noopmeta"} {
		cases = append(cases, reportCase{"noop-" + f, f, []string{"--noop"}, "puppet-noop-report.yaml", ""})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			catalog := fixtureCatalog(t, tc.fixture, root)
			out := t.TempDir()
			reportFile, summaryFile := filepath.Join(out, "report.yaml"), filepath.Join(out, "summary.yaml")
			args := append([]string{"run", catalog, "--color", "false", "--report", reportFile, "--summary", summaryFile}, tc.flags...)
			if r := runCommand(t, bin, args...); r.code != 0 {
				t.Fatalf("mgmt-puppet exit %d\n%s", r.code, r.out)
			}
			got, want := readReport(t, reportFile, root), readReport(t, fixturePath(t, tc.fixture, tc.report), "")
			puppetDigests(want)
			compareReports(t, got, want)
			if tc.summary == "" {
				return
			}
			gotSum, wantSum := readReport(t, summaryFile, root), readReport(t, fixturePath(t, tc.fixture, tc.summary), "")
			for _, section := range []string{"resources", "changes", "events"} {
				if g, w := fmt.Sprint(gotSum[section]), fmt.Sprint(wantSum[section]); g != w {
					t.Errorf("summary %s:\n got %s\nwant %s", section, g, w)
				}
			}
			if g, w := sortedKeys(gotSum["time"]), sortedKeys(wantSum["time"]); !slices.Equal(g, w) {
				t.Errorf("summary time keys:\n got %v\nwant %v", g, w)
			}
		})
	}
}

func fixturePath(t *testing.T, name, file string) string {
	return filepath.Join(moduleRoot(t), "fixtures", name, file)
}

// readReport parses a report or summary, with root (when set) put back to the
// placeholder the fixtures use.
func readReport(t *testing.T, path, root string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if root != "" {
		text = strings.ReplaceAll(text, root, placeholder)
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// puppetDigests undoes a quirk of Puppet's reports: the desired value of a content
// change is written as the base64 of the digest ("e3NoYTI1Nn0..." for
// "{sha256}..."), the previous value as the digest. mgmt-puppet writes both as
// digests (a known difference, see README).
func puppetDigests(report map[string]any) {
	statuses, _ := report["resource_statuses"].(map[string]any)
	for _, st := range statuses {
		events, _ := st.(map[string]any)["events"].([]any)
		for _, e := range events {
			ev := e.(map[string]any)
			s, ok := ev["desired_value"].(string)
			if !ok || ev["property"] != "content" {
				continue
			}
			if b, err := base64.StdEncoding.DecodeString(s); err == nil && strings.HasPrefix(string(b), "{") {
				ev["desired_value"] = string(b)
			}
		}
	}
}

func sortedKeys(v any) []string {
	m, _ := v.(map[string]any)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appliedIn is the one log message whose text holds a duration.
var appliedIn = regexp.MustCompile(`^Applied catalog in [0-9.]+ seconds$`)

func compareReports(t *testing.T, got, want map[string]any) {
	t.Helper()
	// host is left out: Puppet writes the applying machine's certname, which for a
	// real node is the catalog's name (what mgmt-puppet writes), but the fixtures
	// were compiled for made-up node names.
	for _, k := range []string{"configuration_version", "report_format", "status", "transaction_completed",
		"noop", "noop_pending", "environment", "corrective_change", "catalog_uuid", "cached_catalog_status"} {
		if fmt.Sprint(got[k]) != fmt.Sprint(want[k]) {
			t.Errorf("%s = %v, want %v", k, got[k], want[k])
		}
	}
	// Metrics: every value but times; for times, the same keys.
	gm, wm := got["metrics"].(map[string]any), want["metrics"].(map[string]any)
	for _, name := range []string{"resources", "changes", "events"} {
		if g, w := fmt.Sprint(gm[name]), fmt.Sprint(wm[name]); g != w {
			t.Errorf("metrics %s:\n got %s\nwant %s", name, g, w)
		}
	}
	timeKeys := func(m map[string]any) []string {
		var keys []string
		for _, v := range m["time"].(map[string]any)["values"].([]any) {
			keys = append(keys, v.([]any)[0].(string))
		}
		slices.Sort(keys)
		return keys
	}
	if g, w := timeKeys(gm), timeKeys(wm); !slices.Equal(g, w) {
		t.Errorf("time metrics:\n got %v\nwant %v", g, w)
	}
	// Logs: the same entries, times left out, in any order (independent resources
	// run in parallel).
	logs := func(m map[string]any) []string {
		var out []string
		for _, l := range m["logs"].([]any) {
			e := l.(map[string]any)
			msg := fmt.Sprint(e["message"])
			if appliedIn.MatchString(msg) {
				msg = "Applied catalog in N seconds"
			}
			out = append(out, fmt.Sprint(e["level"], " | ", e["source"], " | ", msg, " | ", e["tags"], " | ", e["file"], ":", e["line"]))
		}
		slices.Sort(out)
		return out
	}
	if g, w := logs(got), logs(want); !slices.Equal(g, w) {
		t.Errorf("logs differ:\n got %s\nwant %s", strings.Join(g, "\n     "), strings.Join(w, "\n     "))
	}
	// Resource statuses: the same resources, each with the same fields and events.
	gs, ws := got["resource_statuses"].(map[string]any), want["resource_statuses"].(map[string]any)
	if g, w := sortedKeys(gs), sortedKeys(ws); !slices.Equal(g, w) {
		t.Fatalf("resource_statuses:\n got %v\nwant %v", g, w)
	}
	for name, w := range ws {
		if g, w := statusText(gs[name]), statusText(w); g != w {
			t.Errorf("%s:\n got %s\nwant %s", name, g, w)
		}
	}
}

// statusText is a resource status without its times, for comparison; of the
// evaluation time only whether there is one counts.
func statusText(v any) string {
	st := v.(map[string]any)
	var b strings.Builder
	for _, k := range sortedKeys(st) {
		switch k {
		case "time":
			continue
		case "evaluation_time":
			fmt.Fprintf(&b, "%s=%v ", k, st[k] != nil)
		case "events":
			for _, e := range st[k].([]any) {
				ev := e.(map[string]any)
				b.WriteString("\n  event")
				for _, ek := range sortedKeys(ev) {
					if ek != "time" {
						fmt.Fprintf(&b, " %s=%v", ek, ev[ek])
					}
				}
			}
		default:
			fmt.Fprintf(&b, "%s=%v ", k, st[k])
		}
	}
	return b.String()
}

// TestReportReadByPuppet has Puppet's own Ruby classes read the reports mgmt-puppet
// writes (testdata/readreport.rb) and requires them to find what they find in the
// report real Puppet wrote for the same catalog.
func TestReportReadByPuppet(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	script := filepath.Join(moduleRoot(t), "integration", "testdata", "readreport.rb")
	for _, name := range []string{"refresh", "failure", "sensitive"} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			reportFile := filepath.Join(t.TempDir(), "report.yaml")
			if r := runCommand(t, bin, "run", fixtureCatalog(t, name, root), "--color", "false", "--report", reportFile); r.code != 0 {
				t.Fatalf("mgmt-puppet exit %d\n%s", r.code, r.out)
			}
			got := runCommand(t, "ruby", script, reportFile)
			want := runCommand(t, "ruby", script, fixturePath(t, name, "puppet-report.yaml"))
			if got.code != 0 || want.code != 0 {
				t.Fatalf("readreport.rb: exit %d on ours, %d on Puppet's\n%s\n%s", got.code, want.code, got.out, want.out)
			}
			if got.out != want.out {
				t.Errorf("Puppet reads:\n ours    %s puppet's %s", got.out, want.out)
			}
		})
	}
}
