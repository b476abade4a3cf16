package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/report"
)

func TestAgentMetrics(t *testing.T) {
	m := newAgentMetrics()
	v := &engine.Vertex{Name: "x"}
	for _, e := range []engine.Event{
		{Kind: engine.EventEvaluated, Vertex: v, Changed: true},                               // first pass: no repair
		{Kind: engine.EventEvaluated, Vertex: v, Changed: true, Corrective: true},             // a repair
		{Kind: engine.EventEvaluated, Vertex: v, Changed: true, Corrective: true, Noop: true}, // noop: none
		{Kind: engine.EventEvaluated, Vertex: v, Failure: true, Corrective: true},
		{Kind: engine.EventChange, Vertex: v, Corrective: true}, // only evaluations count
	} {
		m.Observe(e)
	}
	m.run("success", 1500*time.Millisecond, report.NewRecorder(report.Run{}, engine.Notice))
	m.run("skipped", 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := m.serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`mgmt_puppet_agent_runs_total{result="success"} 1`,
		`mgmt_puppet_agent_runs_total{result="skipped"} 1`,
		`mgmt_puppet_agent_runs_total{result="failure"} 0`,
		"mgmt_puppet_agent_run_duration_seconds_sum 1.5",
		"mgmt_puppet_agent_run_duration_seconds_count 2",
		"mgmt_puppet_agent_last_run_duration_seconds 0",
		`mgmt_puppet_resources{state="total"} 0`,
		`mgmt_puppet_resources{state="corrective_change"} 0`,
		"mgmt_puppet_repairs_total 1",
		"mgmt_puppet_failures_total 1",
		"# TYPE mgmt_puppet_repairs_total counter",
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
}
