package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/report"
)

// agentMetrics are the agent's Prometheus metrics: runs and their durations, the
// last run's resources by state, and the repairs and failures of the engine.
type agentMetrics struct {
	mu          sync.Mutex
	runs        map[string]int // by result: success, failure, skipped
	runSeconds  float64        // sum of run durations
	lastRun     time.Time
	lastSeconds float64
	resources   map[string]int // the last report's resource metrics
	repairs     int            // corrective changes made
	failures    int            // failed evaluations
}

func newAgentMetrics() *agentMetrics {
	return &agentMetrics{runs: map[string]int{}, resources: map[string]int{}}
}

// Observe implements engine.Observer: repairs and failures as they happen.
func (m *agentMetrics) Observe(e engine.Event) {
	if e.Kind != engine.EventEvaluated {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Failure {
		m.failures++
	} else if e.Changed && e.Corrective && !e.Noop {
		m.repairs++
	}
}

// run records a run that ended: its result (success, failure, skipped), how long
// it took, and its report's resources (nil when it applied nothing).
func (m *agentMetrics) run(result string, took time.Duration, rec *report.Recorder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs[result]++
	m.runSeconds += took.Seconds()
	m.lastRun, m.lastSeconds = time.Now(), took.Seconds()
	if rec != nil {
		m.resources, _ = rec.Resources()
	}
}

// write writes the metrics in Prometheus' text format.
func (m *agentMetrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP mgmt_puppet_agent_runs_total Agent runs, by result (success, failure, skipped).")
	fmt.Fprintln(w, "# TYPE mgmt_puppet_agent_runs_total counter")
	total := 0
	for _, res := range []string{"success", "failure", "skipped"} {
		fmt.Fprintf(w, "mgmt_puppet_agent_runs_total{result=%q} %d\n", res, m.runs[res])
		total += m.runs[res]
	}
	fmt.Fprintln(w, "# HELP mgmt_puppet_agent_run_duration_seconds Time of the agent runs, from the catalog request to the report.")
	fmt.Fprintln(w, "# TYPE mgmt_puppet_agent_run_duration_seconds summary")
	fmt.Fprintf(w, "mgmt_puppet_agent_run_duration_seconds_sum %g\n", m.runSeconds)
	fmt.Fprintf(w, "mgmt_puppet_agent_run_duration_seconds_count %d\n", total)
	fmt.Fprintln(w, "# HELP mgmt_puppet_agent_last_run_duration_seconds Time of the last run.")
	fmt.Fprintln(w, "# TYPE mgmt_puppet_agent_last_run_duration_seconds gauge")
	fmt.Fprintf(w, "mgmt_puppet_agent_last_run_duration_seconds %g\n", m.lastSeconds)
	fmt.Fprintln(w, "# HELP mgmt_puppet_agent_last_run_timestamp_seconds When the last run ended (Unix time; 0: none yet).")
	fmt.Fprintln(w, "# TYPE mgmt_puppet_agent_last_run_timestamp_seconds gauge")
	last := int64(0)
	if !m.lastRun.IsZero() {
		last = m.lastRun.Unix()
	}
	fmt.Fprintf(w, "mgmt_puppet_agent_last_run_timestamp_seconds %d\n", last)
	fmt.Fprintln(w, "# HELP mgmt_puppet_resources Resources of the last run's report, by state (as its resource metrics).")
	fmt.Fprintln(w, "# TYPE mgmt_puppet_resources gauge")
	states := make([]string, 0, len(m.resources))
	for s := range m.resources {
		states = append(states, s)
	}
	sort.Strings(states)
	for _, s := range states {
		fmt.Fprintf(w, "mgmt_puppet_resources{state=%q} %d\n", s, m.resources[s])
	}
	fmt.Fprintln(w, "# HELP mgmt_puppet_repairs_total Drift repaired (corrective changes), between runs and in them.")
	fmt.Fprintln(w, "# TYPE mgmt_puppet_repairs_total counter")
	fmt.Fprintf(w, "mgmt_puppet_repairs_total %d\n", m.repairs)
	fmt.Fprintln(w, "# HELP mgmt_puppet_failures_total Failed evaluations of resources.")
	fmt.Fprintln(w, "# TYPE mgmt_puppet_failures_total counter")
	fmt.Fprintf(w, "mgmt_puppet_failures_total %d\n", m.failures)
}

// serve serves /metrics on addr until ctx ends.
func (m *agentMetrics) serve(ctx context.Context, addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.write(w)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr(), nil
}
