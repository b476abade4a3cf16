package pdbquery

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
)

// Row is one answer row, as PuppetDB encodes it in JSON.
type Row = map[string]any

// timestamp is PuppetDB's form of a time: UTC, milliseconds, "Z".
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func timestampOf(p *time.Time) any {
	if p == nil {
		return nil
	}
	return timestamp(*p)
}

// normalTime rewrites a time of a command (any offset) in PuppetDB's form; what
// does not parse stays as it is.
func normalTime(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return v
	}
	return timestamp(t)
}

func decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// data is a snapshot turned into rows, entity by entity, made when first asked.
type data struct {
	snap   *exported.Snapshot
	active map[string]bool // certnames not deactivated
	rows   map[string][]Row
}

func newData(snap *exported.Snapshot) *data {
	d := &data{snap: snap, active: map[string]bool{}, rows: map[string][]Row{}}
	for _, n := range snap.Nodes {
		if n.Active() {
			d.active[n.Certname] = true
		}
	}
	return d
}

// parts says what of the store each entity needs.
var parts = map[string]exported.Parts{
	"nodes":        exported.PartNodes | exported.PartFacts,
	"facts":        exported.PartNodes | exported.PartFacts,
	"fact_names":   exported.PartNodes | exported.PartFacts,
	"inventory":    exported.PartNodes | exported.PartFacts,
	"environments": exported.PartNodes | exported.PartFacts | exported.PartCatalogs | exported.PartReports,
	"resources":    exported.PartNodes | exported.PartCatalogs,
	"catalogs":     exported.PartNodes | exported.PartCatalogs,
	"edges":        exported.PartNodes | exported.PartCatalogs,
	"reports":      exported.PartNodes | exported.PartReports,
	"events":       exported.PartNodes | exported.PartReports,
}

func (d *data) entity(name string) ([]Row, error) {
	if rows, ok := d.rows[name]; ok {
		return rows, nil
	}
	var rows []Row
	var err error
	switch name {
	case "nodes":
		rows = d.nodes()
	case "facts":
		rows, err = d.facts()
	case "fact_names":
		rows, err = d.factNames()
	case "inventory":
		rows, err = d.inventory()
	case "environments":
		rows, err = d.environments()
	case "resources", "catalogs", "edges":
		err = d.catalogs()
		rows = d.rows[name]
	case "reports", "events":
		err = d.reports()
		rows = d.rows[name]
	default:
		return nil, errorf("unknown entity %q", name)
	}
	if err != nil {
		return nil, err
	}
	d.rows[name] = rows
	return rows, nil
}

func (d *data) nodes() []Row {
	rows := make([]Row, 0, len(d.snap.Nodes))
	for _, n := range d.snap.Nodes {
		r := Row{"certname": n.Certname, "deactivated": timestampOf(n.Deactivated), "expired": timestampOf(n.Expired),
			"catalog_timestamp": timestampOf(n.CatalogTimestamp), "facts_timestamp": timestampOf(n.FactsTimestamp),
			"catalog_environment": nilIfEmpty(n.Environment), "facts_environment": nilIfEmpty(n.FactsEnvironment),
			"report_timestamp": nil, "report_environment": nil, "latest_report_status": nil, "latest_report_hash": nil,
			"latest_report_noop": nil, "latest_report_noop_pending": nil, "latest_report_corrective_change": nil,
			"latest_report_job_id": nil, "cached_catalog_status": nil}
		if l := n.Report; l != nil {
			r["report_timestamp"], r["report_environment"] = timestamp(l.EndTime), l.Environment
			r["latest_report_status"], r["latest_report_hash"], r["latest_report_noop"] = l.Status, l.Hash, l.Noop
			// corrective_change is PE's: PuppetDB (open source) keeps null.
			r["latest_report_noop_pending"], r["latest_report_corrective_change"] = ptr(l.NoopPending), nil
			r["latest_report_job_id"], r["cached_catalog_status"] = ptr(l.JobID), ptr(l.CachedCatalogStatus)
		}
		rows = append(rows, r)
	}
	return rows
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func ptr[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// factValues returns each active node's facts, decoded.
func (d *data) factValues() ([]exported.Facts, []map[string]any, error) {
	var fs []exported.Facts
	var vs []map[string]any
	for _, f := range d.snap.Facts {
		var v map[string]any
		if err := decode(f.Values, &v); err != nil {
			return nil, nil, fmt.Errorf("facts of %s: %w", f.Certname, err)
		}
		fs, vs = append(fs, f), append(vs, v)
	}
	return fs, vs, nil
}

func (d *data) facts() ([]Row, error) {
	fs, vs, err := d.factValues()
	if err != nil {
		return nil, err
	}
	var rows []Row
	for i, f := range fs {
		for _, name := range sortedKeys(vs[i]) {
			rows = append(rows, Row{"certname": f.Certname, "environment": f.Environment, "name": name, "value": vs[i][name]})
		}
	}
	return rows, nil
}

func (d *data) factNames() ([]Row, error) {
	seen := map[string]bool{}
	for _, f := range d.snap.Facts {
		var v map[string]json.RawMessage
		if err := json.Unmarshal(f.Values, &v); err != nil {
			return nil, fmt.Errorf("facts of %s: %w", f.Certname, err)
		}
		for k := range v {
			seen[k] = true
		}
	}
	rows := make([]Row, 0, len(seen))
	for _, k := range sortedKeys(seen) {
		rows = append(rows, Row{"name": k})
	}
	return rows, nil
}

func (d *data) inventory() ([]Row, error) {
	fs, vs, err := d.factValues()
	if err != nil {
		return nil, err
	}
	var rows []Row
	for i, f := range fs {
		trusted := vs[i]["trusted"]
		rows = append(rows, Row{"certname": f.Certname, "timestamp": timestamp(f.ReceiveTime), "environment": f.Environment,
			"facts": vs[i], "trusted": trusted})
	}
	return rows, nil
}

func (d *data) environments() ([]Row, error) {
	seen := map[string]bool{}
	for _, n := range d.snap.Nodes {
		for _, e := range []string{n.Environment, n.FactsEnvironment} {
			if e != "" {
				seen[e] = true
			}
		}
		if n.Report != nil && n.Report.Environment != "" {
			seen[n.Report.Environment] = true
		}
	}
	rows := make([]Row, 0, len(seen))
	for _, e := range sortedKeys(seen) {
		rows = append(rows, Row{"name": e})
	}
	return rows, nil
}

// catalogPayload is a replace_catalog payload (v9).
type catalogPayload struct {
	Certname          string            `json:"certname"`
	Version           json.RawMessage   `json:"version"`
	Environment       string            `json:"environment"`
	TransactionUUID   any               `json:"transaction_uuid"`
	CatalogUUID       any               `json:"catalog_uuid"`
	CodeID            any               `json:"code_id"`
	JobID             any               `json:"job_id"`
	ProducerTimestamp string            `json:"producer_timestamp"`
	Producer          any               `json:"producer"`
	Resources         []catalogResource `json:"resources"`
	Edges             []struct {
		Source       struct{ Type, Title string } `json:"source"`
		Target       struct{ Type, Title string } `json:"target"`
		Relationship string                       `json:"relationship"`
	} `json:"edges"`
}

type catalogResource struct {
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Tags       []any          `json:"tags"`
	File       any            `json:"file"`
	Line       any            `json:"line"`
	Exported   bool           `json:"exported"`
	Parameters map[string]any `json:"parameters"`
}

func sha(parts ...string) string {
	sum := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

func (d *data) catalogs() error {
	var resources, catalogs, edges []Row
	for _, c := range d.snap.Catalogs {
		var p catalogPayload
		if err := decode(c.Payload, &p); err != nil {
			return fmt.Errorf("stored catalog: %w", err)
		}
		var version any
		_ = decode(p.Version, &version)
		hash := sha(p.Certname, string(p.Version), p.ProducerTimestamp)
		var rs, es []any
		for _, r := range p.Resources {
			params := r.Parameters
			if params == nil {
				params = map[string]any{}
			}
			tags := r.Tags
			if tags == nil {
				tags = []any{}
			}
			row := Row{"certname": p.Certname, "resource": sha(r.Type, r.Title), "type": r.Type, "title": r.Title,
				"tags": tags, "exported": r.Exported, "file": r.File, "line": r.Line, "parameters": params,
				"environment": p.Environment}
			resources = append(resources, row)
			rs = append(rs, Row{"resource": row["resource"], "type": r.Type, "title": r.Title, "tags": tags,
				"exported": r.Exported, "file": r.File, "line": r.Line, "parameters": params})
		}
		for _, e := range p.Edges {
			row := Row{"certname": p.Certname, "relationship": e.Relationship, "source_type": e.Source.Type,
				"source_title": e.Source.Title, "target_type": e.Target.Type, "target_title": e.Target.Title}
			edges = append(edges, row)
			es = append(es, Row{"relationship": e.Relationship, "source_type": e.Source.Type,
				"source_title": e.Source.Title, "target_type": e.Target.Type, "target_title": e.Target.Title})
		}
		if rs == nil {
			rs = []any{}
		}
		if es == nil {
			es = []any{}
		}
		href := "/pdb/query/v4/catalogs/" + p.Certname
		catalogs = append(catalogs, Row{"certname": p.Certname, "version": version, "transaction_uuid": p.TransactionUUID,
			"catalog_uuid": p.CatalogUUID, "code_id": p.CodeID, "job_id": p.JobID,
			"producer_timestamp": normalTime(p.ProducerTimestamp), "producer": p.Producer, "hash": hash,
			"environment": p.Environment,
			"resources":   Row{"href": href + "/resources", "data": rs},
			"edges":       Row{"href": href + "/edges", "data": es}})
	}
	d.rows["resources"], d.rows["catalogs"], d.rows["edges"] = resources, catalogs, edges
	return nil
}

// reportPayload is a store_report payload (v8).
type reportPayload struct {
	Certname             string `json:"certname"`
	PuppetVersion        any    `json:"puppet_version"`
	ReportFormat         any    `json:"report_format"`
	ConfigurationVersion any    `json:"configuration_version"`
	StartTime            string `json:"start_time"`
	EndTime              string `json:"end_time"`
	ProducerTimestamp    string `json:"producer_timestamp"`
	Producer             any    `json:"producer"`
	TransactionUUID      any    `json:"transaction_uuid"`
	CatalogUUID          any    `json:"catalog_uuid"`
	CodeID               any    `json:"code_id"`
	JobID                any    `json:"job_id"`
	CachedCatalogStatus  any    `json:"cached_catalog_status"`
	Status               any    `json:"status"`
	Noop                 any    `json:"noop"`
	NoopPending          any    `json:"noop_pending"`
	CorrectiveChange     any    `json:"corrective_change"`
	Environment          any    `json:"environment"`
	Type                 string `json:"type"`
	Metrics              []any  `json:"metrics"`
	Logs                 []Row  `json:"logs"`
	Resources            []struct {
		ResourceType    string `json:"resource_type"`
		ResourceTitle   string `json:"resource_title"`
		File            any    `json:"file"`
		Line            any    `json:"line"`
		ContainmentPath []any  `json:"containment_path"`
		Events          []Row  `json:"events"`
	} `json:"resources"`
}

// reports makes the rows of reports and events.
func (d *data) reports() error {
	latest := map[string]string{}
	for _, n := range d.snap.Nodes {
		if n.Report != nil {
			latest[n.Certname] = n.Report.Hash
		}
	}
	var reports, events []Row
	for _, sr := range d.snap.Reports {
		var p reportPayload
		if err := decode(sr.Payload, &p); err != nil {
			return fmt.Errorf("stored report: %w", err)
		}
		typ := p.Type
		if typ == "" {
			typ = "agent"
		}
		href := "/pdb/query/v4/reports/" + sr.Hash
		var evs []any
		for _, r := range p.Resources {
			class := containingClass(r.ContainmentPath)
			for _, e := range r.Events {
				ev := Row{"certname": p.Certname, "configuration_version": p.ConfigurationVersion,
					"containing_class": class, "containment_path": r.ContainmentPath,
					"corrective_change": nil, "environment": p.Environment, "file": r.File, "line": r.Line,
					"message": e["message"], "name": e["name"], "new_value": e["new_value"], "old_value": e["old_value"],
					"property": e["property"], "report": sr.Hash, "report_receive_time": timestamp(sr.ReceiveTime),
					"resource_title": r.ResourceTitle, "resource_type": r.ResourceType,
					"run_end_time": normalTime(p.EndTime), "run_start_time": normalTime(p.StartTime),
					"status": e["status"], "timestamp": normalTime(e["timestamp"]),
					"latest_report?": latest[p.Certname] == sr.Hash}
				events = append(events, ev)
				evs = append(evs, Row{"status": e["status"], "timestamp": normalTime(e["timestamp"]),
					"resource_type": r.ResourceType, "resource_title": r.ResourceTitle, "property": e["property"],
					"name": e["name"], "new_value": e["new_value"], "old_value": e["old_value"], "message": e["message"],
					"file": r.File, "line": r.Line, "containment_path": r.ContainmentPath,
					"containing_class": class, "corrective_change": nil})
			}
		}
		logs := make([]any, 0, len(p.Logs))
		for _, l := range p.Logs {
			logs = append(logs, l) // as sent: PuppetDB keeps their times' offsets
		}
		if evs == nil {
			evs = []any{}
		}
		metrics := p.Metrics
		if metrics == nil {
			metrics = []any{}
		}
		reports = append(reports, Row{"certname": p.Certname, "hash": sr.Hash, "puppet_version": p.PuppetVersion,
			"report_format": p.ReportFormat, "configuration_version": p.ConfigurationVersion,
			"start_time": normalTime(p.StartTime), "end_time": normalTime(p.EndTime),
			"producer_timestamp": normalTime(p.ProducerTimestamp), "producer": p.Producer,
			"receive_time": timestamp(sr.ReceiveTime), "transaction_uuid": p.TransactionUUID,
			"catalog_uuid": p.CatalogUUID, "code_id": p.CodeID, "job_id": p.JobID,
			"cached_catalog_status": p.CachedCatalogStatus, "status": p.Status, "noop": p.Noop,
			"noop_pending": p.NoopPending, "corrective_change": nil, "environment": p.Environment,
			"type": typ, "latest_report?": latest[p.Certname] == sr.Hash,
			"metrics":         Row{"href": href + "/metrics", "data": metrics},
			"logs":            Row{"href": href + "/logs", "data": logs},
			"resource_events": Row{"href": href + "/events", "data": evs}})
	}
	d.rows["reports"], d.rows["events"] = reports, events
	return nil
}

// containingClass is the innermost class of a containment path: the last
// element that is not a resource reference or a defined type instance.
func containingClass(path []any) any {
	for i := len(path) - 1; i >= 0; i-- {
		s, _ := path[i].(string)
		if s != "" && !strings.Contains(s, "[") {
			return s
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
