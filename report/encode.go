package report

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

// rubyTime is Ruby's Time#iso8601(9), the form of every time in a report.
const rubyTime = "2006-01-02T15:04:05.000000000-07:00"

// levelNames are Puppet's log level names.
var levelNames = map[engine.Level]string{
	engine.Debug: "debug", engine.Info: "info", engine.Notice: "notice", engine.Warning: "warning", engine.Err: "err",
}

// resourceStates are Puppet::Resource::Status::STATES, the resource metrics.
var resourceStates = []struct{ key, label string }{
	{"skipped", "Skipped"}, {"failed", "Failed"}, {"failed_to_restart", "Failed to restart"},
	{"restarted", "Restarted"}, {"changed", "Changed"}, {"out_of_sync", "Out of sync"},
	{"scheduled", "Scheduled"}, {"corrective_change", "Corrective change"},
}

// metric is one of the report's metrics: values in order, as [key, label, value].
type metric struct {
	name, label string
	values      [][3]any
}

func (m metric) obj() obj {
	vals := make([]any, len(m.values))
	for i, v := range m.values {
		vals[i] = []any{v[0], v[1], v[2]}
	}
	return obj{{"name", m.name}, {"label", m.label}, {"values", vals}}
}

// snapshot is the report computed from the recorder's state now.
type snapshot struct {
	r        *Recorder
	statuses []*status
	metrics  []metric
	status   string
	noopPend bool
	changes  int
}

func (r *Recorder) snapshot() *snapshot {
	s := &snapshot{r: r, statuses: r.order}
	counts := map[string]int{}
	var events [3]int // total, failure, success
	evStatus := map[string]int{}
	var evOrder []string
	typeTimes := map[string]float64{}
	var typeOrder []string
	for _, st := range r.order {
		for k, on := range map[string]bool{
			"skipped": st.skipped, "failed": st.failed, "failed_to_restart": st.failedToRestart,
			"restarted": st.restarted, "changed": st.changed, "out_of_sync": st.outOfSync,
			"corrective_change": st.corrective,
		} {
			if on {
				counts[k]++
			}
		}
		s.changes += st.changeCount
		for _, ev := range st.events {
			events[0]++
			switch ev.status {
			case "failure":
				events[1]++
			case "success":
				events[2]++
			default:
				if evStatus[ev.status] == 0 {
					evOrder = append(evOrder, ev.status)
				}
				evStatus[ev.status]++
				s.noopPend = s.noopPend || ev.status == "noop"
			}
		}
		if st.evaluated {
			t := strings.ToLower(st.meta.Type)
			if _, ok := typeTimes[t]; !ok {
				typeOrder = append(typeOrder, t)
			}
			typeTimes[t] += st.evaluation.Seconds()
		}
	}
	res := metric{name: "resources", label: "Resources", values: [][3]any{{"total", "Total", len(r.order)}}}
	for _, rs := range resourceStates {
		res.values = append(res.values, [3]any{rs.key, rs.label, counts[rs.key]})
	}
	tm := metric{name: "time", label: "Time"}
	var evalTotal float64
	for _, t := range typeOrder {
		tm.values = append(tm.values, [3]any{t, label(t), typeTimes[t]})
		evalTotal += typeTimes[t]
	}
	total := r.run.ConfigRetrieval + r.applied
	for _, p := range r.run.Phases {
		tm.values = append(tm.values, [3]any{p.Name, label(p.Name), p.Duration.Seconds()})
		total += p.Duration
	}
	tm.values = append(tm.values,
		[3]any{"config_retrieval", "Config retrieval", r.run.ConfigRetrieval.Seconds()},
		[3]any{"transaction_evaluation", "Transaction evaluation", r.applied.Seconds()},
		[3]any{"catalog_application", "Catalog application", r.applied.Seconds()},
		[3]any{"total", "Total", total.Seconds()})
	ev := metric{name: "events", label: "Events", values: [][3]any{
		{"total", "Total", events[0]}, {"failure", "Failure", events[1]}, {"success", "Success", events[2]}}}
	for _, k := range evOrder {
		ev.values = append(ev.values, [3]any{k, label(k), evStatus[k]})
	}
	s.metrics = []metric{res, tm, {name: "changes", label: "Changes", values: [][3]any{{"total", "Total", s.changes}}}, ev}
	switch {
	case r.incomplete || counts["failed"] > 0 || counts["failed_to_restart"] > 0:
		s.status = "failed"
	case s.changes > 0:
		s.status = "changed"
	default:
		s.status = "unchanged"
	}
	return s
}

// label is Puppet's Metric.labelize: words capitalised.
func label(key string) string {
	words := strings.Split(key, "_")
	words[0] = strings.ToUpper(words[0][:1]) + words[0][1:]
	return strings.Join(words, " ")
}

func rubyTimeOf(t time.Time) string { return t.Format(rubyTime) }

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nilIfZero(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func (s *snapshot) obj() obj {
	r := s.r
	logs := make([]any, 0, len(r.logs))
	for _, l := range r.logs {
		source, file, line, tags := "Puppet", any(nil), any(nil), []string{levelNames[l.line.Level]}
		if l.line.Source != "" {
			source = l.line.Source
		}
		if v := l.line.Vertex; v != nil && l.line.Source != "" {
			if m, ok := v.Data.(*translate.Meta); ok {
				tags = append(tags, m.ResourceTags...)
				if !v.Relay { // a container's boundary has no place in the manifest
					file, line = nilIfEmpty(m.File), nilIfZero(m.Line)
				}
			}
		}
		logs = append(logs, obj{{"level", levelNames[l.line.Level]}, {"message", l.line.Message}, {"source", source},
			{"tags", tags}, {"time", rubyTimeOf(l.time)}, {"file", file}, {"line", line}})
	}
	metrics := obj{}
	for _, m := range s.metrics {
		metrics = append(metrics, field{m.name, m.obj()})
	}
	statuses := obj{}
	corrective := false
	for _, st := range s.statuses {
		corrective = corrective || st.corrective
		statuses = append(statuses, field{st.meta.Ref(), st.obj()})
	}
	o := obj{
		{"host", r.run.Host},
		{"time", rubyTimeOf(r.start)},
		{"configuration_version", configVersion(r.run.ConfigurationVersion)},
		{"transaction_uuid", r.uuid},
		{"report_format", 12},
		{"puppet_version", PuppetVersion},
		{"status", s.status},
		{"transaction_completed", !r.incomplete},
		{"noop", r.run.Noop},
		{"noop_pending", s.noopPend},
		{"environment", r.run.Environment},
		{"logs", logs},
		{"metrics", metrics},
		{"resource_statuses", statuses},
		{"corrective_change", corrective},
		{"catalog_uuid", nilIfEmpty(r.run.CatalogUUID)},
		{"cached_catalog_status", orDefault(r.run.CachedCatalogStatus, "not_used")},
	}
	if r.run.RunMode == "agent" {
		o = append(o, field{"code_id", nilIfEmpty(r.run.CodeID)}, field{"server_used", nilIfEmpty(r.run.ServerUsed)})
	}
	return o
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// configVersion is the catalog version as Puppet writes it: an integer when it is one.
func configVersion(v string) any {
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' || n > 1<<53 {
			return nilIfEmpty(v)
		}
		n = n*10 + int64(c-'0')
	}
	if v == "" {
		return nil
	}
	return n
}

func (st *status) obj() obj {
	events := make([]any, 0, len(st.events))
	for _, ev := range st.events {
		events = append(events, obj{
			{"audited", false}, {"property", nilIfEmpty(ev.property)}, {"previous_value", ev.previous},
			{"desired_value", ev.desired}, {"historical_value", nil}, {"message", ev.message},
			{"name", ev.name}, {"status", ev.status}, {"time", rubyTimeOf(ev.time)},
			{"redacted", ev.redacted}, {"corrective_change", ev.corrective},
		})
	}
	var evaluation any
	if st.evaluated {
		evaluation = st.evaluation.Seconds()
	}
	m := st.meta
	return obj{
		{"title", m.Title}, {"file", nilIfEmpty(m.File)}, {"line", nilIfZero(m.Line)},
		{"resource", m.Ref()}, {"resource_type", m.Type}, {"provider_used", st.provider},
		{"containment_path", slices.Clone(m.Containment)}, {"evaluation_time", evaluation},
		{"tags", slices.Clone(m.ResourceTags)}, {"time", rubyTimeOf(st.time)},
		{"failed", st.failed}, {"failed_to_restart", st.failedToRestart}, {"changed", st.changed},
		{"out_of_sync", st.outOfSync}, {"skipped", st.skipped}, {"change_count", st.changeCount},
		{"out_of_sync_count", st.outOfSyncCount}, {"events", events}, {"corrective_change", st.corrective},
	}
}

// reportTag is the root tag of last_run_report.yaml.
const reportTag = "!ruby/object:Puppet::Transaction::Report"

// WriteYAML writes the report as Puppet writes last_run_report.yaml.
func (r *Recorder) WriteYAML(w io.Writer) error {
	r.mu.Lock()
	root := node(r.snapshot().obj())
	r.mu.Unlock()
	root.Tag = reportTag
	if _, err := io.WriteString(w, "--- "); err != nil {
		return err
	}
	return encodeYAML(w, root)
}

// WriteJSON writes the report's data hash as JSON.
func (r *Recorder) WriteJSON(w io.Writer) error {
	r.mu.Lock()
	o := r.snapshot().obj()
	r.mu.Unlock()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(o)
}

// WriteSummary writes last_run_summary.yaml: keys sorted, as Puppet writes it.
func (r *Recorder) WriteSummary(w io.Writer) error {
	r.mu.Lock()
	s := r.snapshot()
	r.mu.Unlock()
	sum := obj{
		{"version", obj{{"config", configVersion(r.run.ConfigurationVersion)}, {"puppet", PuppetVersion}}},
		{"application", obj{{"run_mode", orDefault(r.run.RunMode, "user")},
			{"initial_environment", orDefault(r.run.InitialEnvironment, r.run.Environment)},
			{"converged_environment", r.run.Environment}}},
	}
	for _, name := range []string{"resources", "time", "changes", "events"} {
		for _, m := range s.metrics {
			if m.name != name {
				continue
			}
			vals := obj{}
			for _, v := range m.values {
				vals = append(vals, field{v[0].(string), v[2]})
			}
			slices.SortFunc(vals, func(a, b field) int { return strings.Compare(a.key, b.key) })
			if name == "time" {
				vals = append(vals, field{"last_run", time.Now().Unix()})
			}
			sum = append(sum, field{name, vals})
		}
	}
	if _, err := io.WriteString(w, "---\n"); err != nil {
		return err
	}
	return encodeYAML(w, node(sum))
}

func encodeYAML(w io.Writer, n *yaml.Node) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return err
	}
	return enc.Close()
}

// Resources returns the report's resource metrics (total, changed, failed,
// out_of_sync, corrective_change...) and its status (changed, unchanged, failed).
func (r *Recorder) Resources() (counts map[string]int, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snapshot()
	counts = map[string]int{}
	for _, m := range s.metrics {
		if m.name != "resources" {
			continue
		}
		for _, v := range m.values {
			counts[v[0].(string)] = v[2].(int)
		}
	}
	return counts, s.status
}
