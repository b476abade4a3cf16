package puppetdb

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
	"github.com/mgmt-puppet/mgmt-puppet/pdbquery"
)

// maxBody bounds a command's body: a catalog of 100,000 resources fits.
const maxBody = 512 << 20

// Handler serves the API on store. Errors are logged to logger when not nil.
func Handler(store exported.Store, logger *log.Logger) http.Handler {
	s := &server{store: store, log: logger, engine: &pdbquery.Engine{Store: store}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pdb/cmd/v1", s.command)
	mux.HandleFunc("GET /pdb/query/v4/resources", s.resources)
	mux.HandleFunc("GET /pdb/query/v4/resources/{type}", s.resources)
	mux.HandleFunc("GET /pdb/query/v4/resources/{type}/{title...}", s.resources)
	mux.HandleFunc("GET /pdb/query/v4/nodes/{certname}/facts", s.facts)
	mux.HandleFunc("GET /pdb/query/v4/nodes/{certname}", s.node)
	for _, e := range []string{"nodes", "facts", "fact-names", "environments", "reports", "events", "catalogs", "edges", "inventory"} {
		mux.HandleFunc("GET /pdb/query/v4/"+e, s.entity(e))
		mux.HandleFunc("POST /pdb/query/v4/"+e, s.entity(e))
	}
	mux.HandleFunc("GET /pdb/query/v4/event-counts", s.eventCounts)
	mux.HandleFunc("GET /pdb/query/v4/facts/{name}", s.entity("facts"))
	mux.HandleFunc("GET /pdb/query/v4/facts/{name}/{value}", s.entity("facts"))
	mux.HandleFunc("GET /pdb/query/v4/catalogs/{certname}", s.catalog)
	mux.HandleFunc("GET /pdb/query/v4/reports/{hash}/{part}", s.reportPart)
	mux.HandleFunc("GET /pdb/query/v4/environments/{name}", s.environment)
	mux.HandleFunc("POST /pdb/query/v4", s.root)
	mux.HandleFunc("GET /pdb/query/v4", s.root)
	mux.HandleFunc("GET /pdb/meta/v1/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": "7.12.1"})
	})
	return mux
}

type server struct {
	store  exported.Store
	log    *log.Logger
	engine *pdbquery.Engine
}

func (s *server) logf(format string, args ...any) {
	if s.log != nil {
		s.log.Printf(format, args...)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *server) fail(w http.ResponseWriter, code int, err error) {
	if code >= 500 {
		s.logf("puppetdb API: %v", err)
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// command handles POST /pdb/cmd/v1.
func (s *server) command(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	if len(body) > maxBody {
		s.fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("command larger than %d bytes", maxBody))
		return
	}
	c, err := decodeCommand(r.URL.Query(), body)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	if err := c.store(r.Context(), s.store); err != nil {
		s.fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"uuid": newUUID()})
}

// resources handles GET /pdb/query/v4/resources[/Type[/title]]?query=AST. A
// collector's query (exported resources, the asking node left out) is answered
// from the exports, which know which nodes are alive, and recorded for live
// collection; every other query by the query engine, from the stored catalogs.
func (s *server) resources(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("query")
	var terms []string
	if typ := r.PathValue("type"); typ != "" {
		terms = append(terms, equalTerm("type", typ))
	}
	if title := r.PathValue("title"); title != "" {
		terms = append(terms, equalTerm("title", title))
	}
	if len(terms) > 0 {
		raw = `["and",` + strings.Join(terms, ",") + andTail(raw) + `]`
	}
	if q, err := exported.ParseQuery([]byte(raw)); err == nil && q.Collector() && !paged(r) {
		s.answer(w, r, q, raw)
		return
	}
	s.query(w, r, "resources", json.RawMessage(raw))
}

func andTail(raw string) string {
	if strings.TrimSpace(raw) == "" {
		return ""
	}
	return "," + raw
}

// answer runs q and records the asking node's collector.
func (s *server) answer(w http.ResponseWriter, r *http.Request, q *exported.Query, raw string) {
	ctx := r.Context()
	if c := q.Certname(); c != "" {
		if err := s.store.RecordCollector(ctx, c, json.RawMessage(raw)); err != nil {
			s.logf("puppetdb API: recording %s's collector: %v", c, err)
		}
	}
	res, err := s.store.Resources(ctx, q)
	if err != nil {
		s.fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// root handles /pdb/query/v4: a query ["from", ENTITY, ...] or PQL, in the
// query parameter or a POST body {"query": ...} (where it may be a JSON string
// holding either).
func (s *server) root(w http.ResponseWriter, r *http.Request) {
	raw, err := queryParam(r)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	ast, err := astOf(raw)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	if q, raw, ok := collectorQuery(ast); ok {
		s.answer(w, r, q, string(raw))
		return
	}
	s.query(w, r, "", ast)
}

// collectorQuery is a root query ["from","resources",Q] whose Q is a collector's.
func collectorQuery(ast json.RawMessage) (*exported.Query, json.RawMessage, bool) {
	var from []json.RawMessage
	if err := json.Unmarshal(ast, &from); err != nil || len(from) != 3 || string(from[1]) != `"resources"` {
		return nil, nil, false
	}
	q, err := exported.ParseQuery(from[2])
	if err != nil || !q.Collector() {
		return nil, nil, false
	}
	return q, from[2], true
}

// equalTerm is ["=", field, value] as JSON.
func equalTerm(field, value string) string {
	v, _ := json.Marshal(value)
	return `["=","` + field + `",` + string(v) + `]`
}

// facts handles GET /pdb/query/v4/nodes/<certname>/facts: 404 (with PuppetDB's
// message) makes the compiler run facter and send replace_facts.
func (s *server) facts(w http.ResponseWriter, r *http.Request) {
	certname := r.PathValue("certname")
	f, err := s.store.Facts(r.Context(), certname)
	if err != nil {
		s.fail(w, http.StatusServiceUnavailable, err)
		return
	}
	if f == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("No information is known about node %s", certname)})
		return
	}
	var values map[string]json.RawMessage
	if err := json.Unmarshal(f.Values, &values); err != nil {
		s.fail(w, http.StatusServiceUnavailable, fmt.Errorf("stored facts of %s: %w", certname, err))
		return
	}
	type fact struct {
		Certname    string          `json:"certname"`
		Environment string          `json:"environment"`
		Name        string          `json:"name"`
		Value       json.RawMessage `json:"value"`
	}
	out := make([]fact, 0, len(values))
	for name, v := range values {
		out = append(out, fact{Certname: certname, Environment: f.Environment, Name: name, Value: v})
	}
	writeJSON(w, http.StatusOK, out)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
