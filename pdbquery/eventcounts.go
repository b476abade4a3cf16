package pdbquery

import (
	"context"
	"encoding/json"
	"strings"
)

// EventCounts are the options of /event-counts.
type EventCounts struct {
	SummarizeBy  string          // certname, resource or containing_class
	CountBy      string          // resource (default) or certname
	CountsFilter json.RawMessage // an AST on successes, failures, noops, skips
}

// statuses maps the counts to the events' statuses.
var statuses = map[string]string{"successes": "success", "failures": "failure", "noops": "noop", "skips": "skipped"}

// EventCounts answers /event-counts: the events that answer ast, counted by
// status for each subject (a node, a resource or a class): how many resources
// (or, with count_by certname, how many nodes) have events of that status.
func (e *Engine) EventCounts(ctx context.Context, ast json.RawMessage, o EventCounts, p Paging) (*Result, error) {
	switch o.SummarizeBy {
	case "certname", "resource", "containing_class":
	default:
		return nil, errorf("summarize_by %q: want certname, resource or containing_class", o.SummarizeBy)
	}
	if o.CountBy == "" {
		o.CountBy = "resource"
	}
	if o.CountBy != "resource" && o.CountBy != "certname" {
		return nil, errorf("count_by %q: want resource or certname", o.CountBy)
	}
	var q any
	if len(strings.TrimSpace(string(ast))) > 0 {
		if err := decode(ast, &q); err != nil {
			return nil, errorf("query is not JSON: %v", err)
		}
	}
	c, release, err := e.compiler(ctx, "events", q)
	if err != nil {
		return nil, err
	}
	defer release()
	events, err := c.run("events", q, 0)
	if err != nil {
		return nil, err
	}
	type subject struct {
		row   Row
		count map[string]map[string]bool // status -> counted things
	}
	var keys []string
	subjects := map[string]*subject{}
	for _, ev := range events {
		var key string
		var row Row
		switch o.SummarizeBy {
		case "certname":
			key, row = show(ev["certname"]), Row{"subject_type": "certname", "subject": Row{"title": ev["certname"]}}
		case "resource":
			key = show([]any{ev["resource_type"], ev["resource_title"]})
			row = Row{"subject_type": "resource", "subject": Row{"type": ev["resource_type"], "title": ev["resource_title"]}}
		case "containing_class":
			key, row = show(ev["containing_class"]), Row{"subject_type": "containing_class", "subject": Row{"title": ev["containing_class"]}}
		}
		s := subjects[key]
		if s == nil {
			s = &subject{row: row, count: map[string]map[string]bool{}}
			subjects[key] = s
			keys = append(keys, key)
		}
		status, _ := ev["status"].(string)
		if s.count[status] == nil {
			s.count[status] = map[string]bool{}
		}
		thing := show(ev["certname"])
		if o.CountBy == "resource" {
			thing = show([]any{ev["certname"], ev["resource_type"], ev["resource_title"]})
		}
		s.count[status][thing] = true
	}
	var filter filter
	if len(o.CountsFilter) > 0 {
		var fq any
		if err := decode(o.CountsFilter, &fq); err != nil {
			return nil, errorf("counts_filter is not JSON: %v", err)
		}
		if filter, err = c.filter("event_counts", fq, 0); err != nil {
			return nil, err
		}
	}
	rows := []Row{}
	for _, k := range keys {
		s := subjects[k]
		for name, status := range statuses {
			s.row[name] = len(s.count[status])
		}
		if filter == nil || filter(s.row) {
			rows = append(rows, s.row)
		}
	}
	return page(rows, p)
}
