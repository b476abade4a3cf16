package puppetdb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
)

// Relay serves the API in front of a site's own PuppetDB, the primary: every
// request goes on to the primary and its answer comes back unchanged, so the
// compiler's collections and facts, puppetdb_query, reports and dashboards stay
// the primary's. On the way, a command the primary accepted is stored in store
// too, and a collector query of the compiler (the node it leaves out) is
// recorded: live collection through etcd needs both. transport reaches the
// primary (with this host's certificate, as the compiler's).
func Relay(store exported.Store, primary *url.URL, transport http.RoundTripper, logger *log.Logger) http.Handler {
	s := &server{store: store, log: logger}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(primary)
			pr.Out.Host = primary.Host
		},
		Transport: transport,
		ErrorLog:  logger,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.fail(w, http.StatusBadGateway, fmt.Errorf("the primary PuppetDB %s: %w", primary.Host, err))
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode/100 == 2 {
				s.relayed(resp.Request)
			}
			return nil
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !relayed(r) {
			s.fail(w, http.StatusNotFound, fmt.Errorf("%s %s is not relayed to the primary (commands, queries and the version are)", r.Method, r.URL.Path))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			s.fail(w, http.StatusBadRequest, err)
			return
		}
		if len(body) > maxBody {
			s.fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request larger than %d bytes", maxBody))
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
		rp.ServeHTTP(w, r)
	})
}

type bodyKey struct{}

// relayed says whether a request may go on to the primary, under this host's
// certificate: commands, queries and the version. Never PuppetDB's admin API
// (delete, clean, archive import and export), status or metrics.
func relayed(r *http.Request) bool {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/pdb/cmd/v1":
		return true
	case (r.Method == http.MethodGet || r.Method == http.MethodPost) && (p == "/pdb/query/v4" || strings.HasPrefix(p, "/pdb/query/v4/")):
		return !strings.Contains(p, "..")
	case r.Method == http.MethodGet && p == "/pdb/meta/v1/version":
		return true
	}
	return false
}

// relayed keeps what live collection needs of a request the primary answered.
func (s *server) relayed(out *http.Request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(out.Context()), 30*time.Second)
	defer cancel()
	body, _ := out.Context().Value(bodyKey{}).([]byte)
	path := out.URL.Path
	switch {
	case out.Method == http.MethodPost && path == "/pdb/cmd/v1":
		c, err := decodeCommand(out.URL.Query(), body)
		if err != nil {
			s.logf("puppetdb relay: the primary accepted a command kept only there: %v", err)
			return
		}
		if err := c.store(ctx, s.store); err != nil {
			s.logf("puppetdb relay: %s stored by the primary, not in etcd (live collection lags until the next one): %v", c.name, err)
		}
	case out.Method == http.MethodGet && (path == "/pdb/query/v4/resources" || strings.HasPrefix(path, "/pdb/query/v4/resources/")):
		raw := out.URL.Query().Get("query")
		if typ := strings.TrimPrefix(strings.TrimPrefix(path, "/pdb/query/v4/resources"), "/"); typ != "" && !strings.Contains(typ, "/") {
			raw = `["and",` + equalTerm("type", typ) + andTail(raw) + `]`
		}
		q, err := exported.ParseQuery([]byte(raw))
		if err != nil || !q.Collector() {
			return // not a collector query
		}
		if c := q.Certname(); c != "" {
			if err := s.store.RecordCollector(ctx, c, json.RawMessage(raw)); err != nil {
				s.logf("puppetdb relay: recording %s's collector: %v", c, err)
			}
		}
	}
}
