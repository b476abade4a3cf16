package delegate

import (
	"encoding/json"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// relationships are the metaparameters left out of a sub-catalog: the engine orders
// and refreshes delegated resources itself, and their targets are not there.
var relationships = map[string]bool{"require": true, "before": true, "notify": true, "subscribe": true}

// triggerPrefix titles the Notify that passes a refresh on to a delegated resource.
const triggerPrefix = "mgmt-puppet refresh "

type jsonCatalog struct {
	Tags          []string       `json:"tags"`
	Name          string         `json:"name"`
	Version       string         `json:"version"`
	CodeID        *string        `json:"code_id"`
	CatalogUUID   string         `json:"catalog_uuid"`
	CatalogFormat int            `json:"catalog_format"`
	Environment   string         `json:"environment"`
	Resources     []jsonResource `json:"resources"`
	Edges         []jsonEdge     `json:"edges"`
	Classes       []string       `json:"classes"`
}

type jsonResource struct {
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Tags       []string       `json:"tags"`
	File       string         `json:"file,omitempty"`
	Line       int            `json:"line,omitempty"`
	Exported   bool           `json:"exported"`
	Kind       string         `json:"kind,omitempty"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Sensitive  []string       `json:"sensitive_parameters,omitempty"`
}

type jsonEdge struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// subCatalog is the catalog that one Puppet run applies: the requests' resources,
// their containers and the edges between them, and a trigger per due refresh. A
// File's puppet:/// sources name the local files that roots resolves them to (the
// module path, an agent's copies of its server's files): `puppet apply --catalog`
// has no file server.
func subCatalog(head *catalog.Catalog, reqs []*request, roots *resources.ModuleRoots) ([]byte, error) {
	c := jsonCatalog{
		Tags: []string{"settings"}, Name: head.Name, Version: head.Version, CatalogUUID: head.CatalogUUID,
		CatalogFormat: max(head.CatalogFormat, 1), Environment: head.Environment, Classes: []string{},
		Resources: []jsonResource{}, Edges: []jsonEdge{},
	}
	if c.Environment == "" {
		c.Environment = "production"
	}
	seen := map[string]bool{}
	edges := map[jsonEdge]bool{}
	inBatch := map[string]bool{}
	for _, q := range reqs {
		inBatch[q.res.res.Ref()] = true
	}
	// place adds containers (outermost first) and the edges between them, once
	// each, and returns the innermost one's reference ("" for none).
	place := func(containers []*catalog.Resource) string {
		var parent string
		for _, ct := range containers {
			ref := ct.Ref()
			if !seen[ref] {
				seen[ref] = true
				c.Resources = append(c.Resources, resourceJSON(ct, nil))
			}
			if parent != "" && !edges[jsonEdge{parent, ref}] {
				edges[jsonEdge{parent, ref}] = true
				c.Edges = append(c.Edges, jsonEdge{parent, ref})
			}
			parent = ref
		}
		return parent
	}
	for _, q := range reqs {
		d := q.res
		parent := place(d.containers)
		ref := d.res.Ref()
		over := map[string]any{}
		if !q.apply {
			over["noop"] = true
		}
		if d.res.Type == "File" {
			if src, ok := localSources(d.res.Parameters["source"], roots); ok {
				over["source"] = src
			}
		}
		c.Resources = append(c.Resources, resourceJSON(d.res, over))
		if parent != "" {
			c.Edges = append(c.Edges, jsonEdge{parent, ref})
		}
		for _, rider := range d.riders {
			// Applied after d, in this run; skipped by Puppet if d fails.
			rref := rider.res.Ref()
			if seen[rref] || inBatch[rref] {
				continue
			}
			seen[rref] = true
			rparent := place(rider.containers)
			rover := map[string]any{"require": []any{ref}}
			if !q.apply {
				rover["noop"] = true
			}
			c.Resources = append(c.Resources, resourceJSON(rider.res, rover))
			if rparent != "" {
				c.Edges = append(c.Edges, jsonEdge{rparent, rref})
			}
		}
		for _, comp := range d.companions {
			if r := comp.Ref(); !seen[r] && !inBatch[r] {
				seen[r] = true
				c.Resources = append(c.Resources, resourceJSON(comp, map[string]any{"noop": true}))
			}
		}
		if q.refresh {
			params := map[string]any{"message": "refresh", "loglevel": "debug", "notify": []any{ref}}
			if q.refreshNoop {
				params["noop"] = true
			}
			c.Resources = append(c.Resources, jsonResource{
				Type: "Notify", Title: triggerPrefix + ref, Tags: []string{"notify"}, Kind: kindOf(head),
				Parameters: params,
			})
		}
	}
	return json.Marshal(c)
}

// localSources is a File's source value with its puppet:/// URLs replaced by the
// local files roots resolves them to; ok is false when none was.
func localSources(v any, roots *resources.ModuleRoots) (any, bool) {
	switch x := v.(type) {
	case string:
		if p, ok := resources.LocalSource(x, roots); ok {
			return p, true
		}
	case []any:
		out := make([]any, len(x))
		changed := false
		for i, e := range x {
			out[i] = e
			if s, ok := e.(string); ok {
				if p, ok := resources.LocalSource(s, roots); ok {
					out[i], changed = p, true
				}
			}
		}
		return out, changed
	}
	return v, false
}

func kindOf(head *catalog.Catalog) string {
	if head.CatalogFormat >= 2 {
		return "compilable_type"
	}
	return ""
}

// resourceJSON writes r back in the catalog's form, without its relationships and
// with the parameters of over set.
func resourceJSON(r *catalog.Resource, over map[string]any) jsonResource {
	j := jsonResource{Type: r.Type, Title: r.Title, Tags: r.Tags, File: r.File, Line: r.Line, Kind: r.Kind,
		Sensitive: r.SensitiveParameters}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	if len(r.Parameters) > 0 || len(over) > 0 {
		j.Parameters = make(map[string]any, len(r.Parameters)+len(over))
		for k, v := range r.Parameters {
			if !relationships[k] {
				j.Parameters[k] = richValue(v)
			}
		}
		for k, v := range over {
			j.Parameters[k] = v
		}
	}
	return j
}

// richValue undoes catalog's decoding of rich data. A Hash whose keys were not
// strings comes back with string keys, and a Symbol as a string.
func richValue(v any) any {
	switch v := v.(type) {
	case catalog.Sensitive:
		return map[string]any{"__ptype": "Sensitive", "__pvalue": richValue(v.Value)}
	case catalog.Default:
		return map[string]any{"__ptype": "Default"}
	case catalog.Typed:
		if attrs, ok := v.Value.(map[string]any); ok {
			out := map[string]any{"__ptype": v.Type}
			for k, e := range attrs {
				out[k] = richValue(e)
			}
			return out
		}
		return map[string]any{"__ptype": v.Type, "__pvalue": v.Value}
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = richValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = richValue(e)
		}
		return out
	}
	return v
}
