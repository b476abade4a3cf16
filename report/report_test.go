package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

func TestValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{"absent", "absent"},
		{"['0']", []string{"0"}},
		{"['0', '2']", []string{"0", "2"}},
		{"[]", []string{}},
		{"[redacted]", "[redacted]"},
		{"{sha256}ab", "{sha256}ab"},
	} {
		if got := value(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("value(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestEventName(t *testing.T) {
	for _, tc := range []struct{ typ, prop, desired, want string }{
		{"File", "ensure", "file", "file_created"},
		{"File", "ensure", "present", "file_created"},
		{"File", "ensure", "directory", "directory_created"},
		{"File", "ensure", "link", "link_created"},
		{"File", "ensure", "absent", "file_removed"},
		{"File", "content", "{sha256}x", "content_changed"},
		{"File", "mode", "0644", "mode_changed"},
		{"Exec", "returns", "['0']", "executed_command"},
		{"Notify", "message", "hi", "message_changed"},
		{"Package", "ensure", "present", "package_created"},
		{"Package", "ensure", "absent", "package_removed"},
		{"Package", "ensure", "1.2", "package_changed"},
	} {
		if got := eventName(tc.typ, tc.prop, tc.desired); got != tc.want {
			t.Errorf("eventName(%s, %s, %s) = %s, want %s", tc.typ, tc.prop, tc.desired, got, tc.want)
		}
	}
}

func TestConfigVersionAndLabel(t *testing.T) {
	if got := configVersion("1795597678"); got != int64(1795597678) {
		t.Errorf("numeric version = %#v", got)
	}
	if got := configVersion("abc123"); got != "abc123" {
		t.Errorf("string version = %#v", got)
	}
	if got := configVersion(""); got != nil {
		t.Errorf("empty version = %#v", got)
	}
	if got := label("failed_to_restart"); got != "Failed to restart" {
		t.Errorf("label = %q", got)
	}
}

func vertex(typ, title string) *engine.Vertex {
	m := &translate.Meta{Type: typ, Title: title,
		Containment: []string{"Stage[main]", "Main", typ + "[" + title + "]"}, ResourceTags: []string{strings.ToLower(typ), "class"},
		Loglevel: engine.Notice}
	return &engine.Vertex{Name: m.Ref(), Data: m}
}

// TestRecorder feeds a run's events and checks the statuses and metrics they make:
// a change, a noop change, a failed change, a skip, a refresh, and a drift repair
// after the first pass (a corrective change).
func TestRecorder(t *testing.T) {
	r := NewRecorder(Run{Host: "n1", ConfigurationVersion: "7", Environment: "production"}, engine.Notice)
	a, b, c, d, e := vertex("File", "/a"), vertex("File", "/b"), vertex("Exec", "c"), vertex("File", "/d"), vertex("Exec", "e")
	now := time.Now()
	evs := []engine.Event{
		{Kind: engine.EventChange, Vertex: a, Change: engine.Change{Property: "ensure", Previous: "absent", Desired: "file", Message: "created"}},
		{Kind: engine.EventEvaluated, Vertex: a, Changed: true, Duration: time.Millisecond},
		{Kind: engine.EventChange, Vertex: b, Noop: true, Change: engine.Change{Property: "mode", Previous: "0644", Desired: "0600"}},
		{Kind: engine.EventEvaluated, Vertex: b, Changed: true, Noop: true},
		{Kind: engine.EventFailure, Vertex: c, Err: &engine.ChangeError{Property: "returns", From: "notrun", To: "['0']", Err: errors.New("boom")}},
		{Kind: engine.EventEvaluated, Vertex: c, Failure: true},
		{Kind: engine.EventSkip, Vertex: d, Failed: []string{"Exec[c]"}},
		{Kind: engine.EventRefresh, Vertex: e, Count: 2},
		{Kind: engine.EventEvaluated, Vertex: e, Changed: false},
		{Kind: engine.EventPassDone, Duration: 10 * time.Millisecond},
		{Kind: engine.EventChange, Vertex: a, Change: engine.Change{Property: "ensure", Previous: "absent", Desired: "file", Message: "created"}, Corrective: true},
		{Kind: engine.EventEvaluated, Vertex: a, Changed: true, Corrective: true},
	}
	for _, ev := range evs {
		ev.Time = now
		r.Observe(ev)
	}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Status           string `json:"status"`
		NoopPending      bool   `json:"noop_pending"`
		CorrectiveChange bool   `json:"corrective_change"`
		Metrics          map[string]struct {
			Values [][3]any `json:"values"`
		} `json:"metrics"`
		ResourceStatuses map[string]struct {
			Changed, Failed, Skipped, OutOfSync bool
			ChangeCount                         int `json:"change_count"`
			Events                              []struct{ Name, Status, Message string }
		} `json:"resource_statuses"`
		Logs []struct{ Level, Source, Message string } `json:"logs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if rep.Status != "failed" || !rep.NoopPending || !rep.CorrectiveChange {
		t.Errorf("status %s noop_pending %v corrective %v", rep.Status, rep.NoopPending, rep.CorrectiveChange)
	}
	metric := func(name string) map[string]float64 {
		out := map[string]float64{}
		for _, v := range rep.Metrics[name].Values {
			if n, ok := v[2].(float64); ok {
				out[v[0].(string)] = n
			}
		}
		return out
	}
	wantRes := map[string]float64{"total": 5, "skipped": 1, "failed": 1, "failed_to_restart": 0, "restarted": 1,
		"changed": 2, "out_of_sync": 4, "scheduled": 0, "corrective_change": 1}
	if got := metric("resources"); !reflect.DeepEqual(got, wantRes) {
		t.Errorf("resources metrics %v, want %v", got, wantRes)
	}
	wantEv := map[string]float64{"total": 5, "failure": 1, "success": 3, "noop": 1}
	if got := metric("events"); !reflect.DeepEqual(got, wantEv) {
		t.Errorf("events metrics %v, want %v", got, wantEv)
	}
	if got := metric("changes")["total"]; got != 3 {
		t.Errorf("changes %v, want 3", got)
	}
	if ev := rep.ResourceStatuses["File[/b]"].Events; len(ev) != 1 || ev[0].Status != "noop" ||
		ev[0].Message != "current_value '0644', should be '0600' (noop)" || ev[0].Name != "mode_changed" {
		t.Errorf("noop event %+v", ev)
	}
	if ev := rep.ResourceStatuses["Exec[e]"].Events; len(ev) != 1 || ev[0].Name != "refresh" || ev[0].Message != "Triggered 'refresh' from 2 events" {
		t.Errorf("refresh event %+v", ev)
	}
	if len(rep.Logs) == 0 || rep.Logs[len(rep.Logs)-1].Source != "/Stage[main]/Main/File[/a]/ensure" ||
		rep.Logs[len(rep.Logs)-1].Message != "created (corrective)" {
		t.Errorf("logs %+v", rep.Logs)
	}
	// The repair's event says so, as Puppet's harness appends to its message.
	if ev := rep.ResourceStatuses["File[/a]"].Events; len(ev) != 2 || ev[0].Message != "created" || ev[1].Message != "created (corrective)" {
		t.Errorf("File[/a]'s events %+v, want the first change, then the corrective one", ev)
	}

	buf.Reset()
	if err := r.WriteYAML(&buf); err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(buf.Bytes(), &root); err != nil {
		t.Fatal(err)
	}
	if tag := root.Content[0].Tag; tag != reportTag {
		t.Errorf("YAML root tag %q, want %q", tag, reportTag)
	}
}

// TestIncompleteRun: a run that applied no catalog is reported failed, its
// transaction not completed, with the lines the agent logged.
func TestIncompleteRun(t *testing.T) {
	rec := NewRecorder(Run{Host: "n", RunMode: "agent", Environment: "production"}, engine.Info)
	rec.Log(engine.Err, "Could not retrieve catalog from remote server: Error 500 on SERVER: boom")
	rec.Log(engine.Debug, "below the level: not kept")
	rec.Incomplete()
	var b strings.Builder
	if err := rec.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Status    string `json:"status"`
		Completed bool   `json:"transaction_completed"`
		Logs      []struct {
			Level, Message, Source string
		} `json:"logs"`
	}
	if err := json.Unmarshal([]byte(b.String()), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Status != "failed" || rep.Completed {
		t.Errorf("status %q, transaction_completed %v; want failed, false", rep.Status, rep.Completed)
	}
	if len(rep.Logs) != 1 || rep.Logs[0].Level != "err" || rep.Logs[0].Source != "Puppet" ||
		!strings.HasPrefix(rep.Logs[0].Message, "Could not retrieve catalog") {
		t.Errorf("logs %+v", rep.Logs)
	}
	if counts, status := rec.Resources(); status != "failed" || counts["total"] != 0 {
		t.Errorf("Resources() = %v, %q", counts, status)
	}
}

// TestHaltedChange: a change cut short at runtimeout leaves its log line in the
// report but no status of its resource, as Puppet's transaction never adds it;
// the resource evaluated before keeps its own.
func TestHaltedChange(t *testing.T) {
	rec := NewRecorder(Run{Host: "n", RunMode: "agent", Environment: "slow"}, engine.Info)
	before, cut := vertex("File", "/before"), vertex("File", "/cut")
	for _, ev := range []engine.Event{
		{Kind: engine.EventChange, Vertex: before, Change: engine.Change{Property: "ensure", Previous: "absent", Desired: "file", Message: "created"}},
		{Kind: engine.EventEvaluated, Vertex: before, Changed: true},
		{Kind: engine.EventChange, Vertex: cut, Change: engine.Change{Property: "ensure", Previous: "absent", Desired: "file", Message: "created"}},
		{Kind: engine.EventFailure, Vertex: cut, Err: &engine.ChangeError{Property: "mode", From: "0644", To: "0600", Err: errors.New("execution expired"), Halted: true}},
	} {
		ev.Time = time.Now()
		rec.Observe(ev)
	}
	rec.Incomplete()
	var b strings.Builder
	if err := rec.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Statuses map[string]any `json:"resource_statuses"`
		Logs     []struct{ Message string }
	}
	if err := json.Unmarshal([]byte(b.String()), &rep); err != nil {
		t.Fatal(err)
	}
	if _, ok := rep.Statuses["File[/cut]"]; ok || len(rep.Statuses) != 1 {
		t.Errorf("statuses %v: want File[/before]'s only", slices.Collect(maps.Keys(rep.Statuses)))
	}
	found := false
	for _, l := range rep.Logs {
		found = found || l.Message == "change from '0644' to '0600' failed: execution expired"
	}
	if !found {
		t.Errorf("logs %+v: the halted change's line is missing", rep.Logs)
	}
	if counts, status := rec.Resources(); status != "failed" || counts["total"] != 1 {
		t.Errorf("Resources() = %v, %q; want total 1, failed", counts, status)
	}
}
