package puppetdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/pdbquery"
	"github.com/mgmt-puppet/mgmt-puppet/pdbquery/pql"
)

// queryParam reads the query of a request: the query parameter, or a POST body
// {"query": ...} whose query may also be a JSON string holding the query.
func queryParam(r *http.Request) (json.RawMessage, error) {
	if r.Method != http.MethodPost {
		return json.RawMessage(r.URL.Query().Get("query")), nil
	}
	var body struct {
		Query json.RawMessage `json:"query"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&body); err != nil {
		return nil, fmt.Errorf("query body: %w", err)
	}
	return body.Query, nil
}

// astOf reads a query that is an AST, PQL, or a JSON string holding either.
func astOf(raw json.RawMessage) (json.RawMessage, error) {
	text := strings.TrimSpace(string(raw))
	if strings.HasPrefix(text, `"`) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		text = strings.TrimSpace(s)
	}
	if strings.HasPrefix(text, "[") || text == "" {
		return json.RawMessage(text), nil
	}
	return pql.Parse(text)
}

var pagingParams = map[string]bool{"query": true, "order_by": true, "limit": true, "offset": true, "include_total": true,
	"pretty": true}

// eventCountParams are event-counts' own.
var eventCountParams = map[string]bool{"summarize_by": true, "counts_filter": true, "count_by": true}

// paged says whether a request asks for paging.
func paged(r *http.Request) bool {
	q := r.URL.Query()
	return q.Has("order_by") || q.Has("limit") || q.Has("offset") || q.Has("include_total")
}

// pagingOf reads order_by, limit and offset of the URL.
func pagingOf(r *http.Request) (pdbquery.Paging, error) {
	var p pdbquery.Paging
	q := r.URL.Query()
	for name := range q {
		if !pagingParams[name] && !(r.URL.Path == "/pdb/query/v4/event-counts" && eventCountParams[name]) {
			return p, fmt.Errorf("Unsupported query parameter '%s'", name)
		}
	}
	for _, n := range []struct {
		name string
		to   *int
	}{{"limit", &p.Limit}, {"offset", &p.Offset}} {
		if v := q.Get(n.name); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < 0 {
				return p, fmt.Errorf("%s %q: want a whole number", n.name, v)
			}
			*n.to = i
		}
	}
	if v := q.Get("order_by"); v != "" {
		var keys []struct {
			Field string `json:"field"`
			Order string `json:"order"`
		}
		if err := json.Unmarshal([]byte(v), &keys); err != nil {
			return p, fmt.Errorf(`order_by %q: want [{"field": F, "order": "asc"|"desc"}]`, v)
		}
		for _, k := range keys {
			o := strings.ToLower(k.Order)
			if k.Field == "" || (o != "" && o != "asc" && o != "desc") {
				return p, fmt.Errorf(`order_by %q: want [{"field": F, "order": "asc"|"desc"}]`, v)
			}
			p.OrderBy = append(p.OrderBy, pdbquery.Order{Field: k.Field, Desc: o == "desc"})
		}
	}
	return p, nil
}

// query answers an AST on an entity ("": a root query) with the URL's paging.
func (s *server) query(w http.ResponseWriter, r *http.Request, entity string, ast json.RawMessage) {
	p, err := pagingOf(r)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	res, err := s.engine.Query(r.Context(), entity, ast, p)
	if entity != "fact-names" || err != nil {
		s.respond(w, r, res, err)
		return
	}
	// fact-names answers the names alone.
	if r.URL.Query().Get("include_total") == "true" {
		w.Header().Set("X-Records", strconv.Itoa(res.Total))
	}
	names := make([]any, len(res.Rows))
	for i, row := range res.Rows {
		names[i] = row["name"]
	}
	writeJSON(w, http.StatusOK, names)
}

// entity serves an entity endpoint; /facts/NAME[/VALUE] narrow the query.
func (s *server) entity(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, err := queryParam(r)
		if err != nil {
			s.fail(w, http.StatusBadRequest, err)
			return
		}
		var terms []string
		if n := r.PathValue("name"); n != "" {
			terms = append(terms, equalTerm("name", n))
		}
		if v := r.PathValue("value"); v != "" {
			terms = append(terms, equalTerm("value", v))
		}
		if len(terms) > 0 {
			raw = json.RawMessage(`["and",` + strings.Join(terms, ",") + andTail(string(raw)) + `]`)
		}
		s.query(w, r, name, raw)
	}
}

// one answers the single row of an entity that q finds, or PuppetDB's 404.
func (s *server) one(w http.ResponseWriter, r *http.Request, entity string, q any, missing string) {
	ast, _ := json.Marshal(q)
	res, err := s.engine.Query(r.Context(), entity, ast, pdbquery.Paging{})
	if err != nil {
		s.fail(w, http.StatusServiceUnavailable, err)
		return
	}
	if len(res.Rows) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": missing})
		return
	}
	writeJSON(w, http.StatusOK, res.Rows[0])
}

// node serves /nodes/CERTNAME, active or not.
func (s *server) node(w http.ResponseWriter, r *http.Request) {
	c := r.PathValue("certname")
	s.one(w, r, "nodes", []any{"and", []any{"=", "certname", c}, []any{"=", "node_state", "any"}},
		"No information is known about "+c)
}

// catalog serves /catalogs/CERTNAME.
func (s *server) catalog(w http.ResponseWriter, r *http.Request) {
	c := r.PathValue("certname")
	s.one(w, r, "catalogs", []any{"=", "certname", c}, "Could not find catalog for "+c)
}

// environment serves /environments/NAME.
func (s *server) environment(w http.ResponseWriter, r *http.Request) {
	n := r.PathValue("name")
	s.one(w, r, "environments", []any{"=", "name", n}, "No information is known about environment "+n)
}

// reportPart serves /reports/HASH/metrics, /logs and /events: the bare arrays.
func (s *server) reportPart(w http.ResponseWriter, r *http.Request) {
	hash, part := r.PathValue("hash"), r.PathValue("part")
	field := map[string]string{"metrics": "metrics", "logs": "logs", "events": "resource_events"}[part]
	if field == "" {
		s.fail(w, http.StatusNotFound, fmt.Errorf("no %q of a report (metrics, logs, events)", part))
		return
	}
	ast, _ := json.Marshal([]any{"=", "hash", hash})
	res, err := s.engine.Query(r.Context(), "reports", ast, pdbquery.Paging{})
	if err != nil {
		s.fail(w, http.StatusServiceUnavailable, err)
		return
	}
	if len(res.Rows) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "No information is known about report " + hash})
		return
	}
	data, _ := res.Rows[0][field].(pdbquery.Row)
	writeJSON(w, http.StatusOK, data["data"])
}

// eventCounts serves /event-counts?query=AST&summarize_by=S[&count_by=C][&counts_filter=AST].
func (s *server) eventCounts(w http.ResponseWriter, r *http.Request) {
	p, err := pagingOf(r)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	q := r.URL.Query()
	res, err := s.engine.EventCounts(r.Context(), json.RawMessage(q.Get("query")), pdbquery.EventCounts{
		SummarizeBy: q.Get("summarize_by"), CountBy: q.Get("count_by"), CountsFilter: json.RawMessage(q.Get("counts_filter"))}, p)
	s.respond(w, r, res, err)
}

// respond writes a result, with X-Records when include_total asks, or the error:
// 400 for the client's, 503 for the store's.
func (s *server) respond(w http.ResponseWriter, r *http.Request, res *pdbquery.Result, err error) {
	if err != nil {
		var qe *pdbquery.Error
		if errors.As(err, &qe) {
			s.fail(w, http.StatusBadRequest, err)
		} else {
			s.fail(w, http.StatusServiceUnavailable, err)
		}
		return
	}
	if r.URL.Query().Get("include_total") == "true" {
		w.Header().Set("X-Records", strconv.Itoa(res.Total))
	}
	writeJSON(w, http.StatusOK, res.Rows)
}
