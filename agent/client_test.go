package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEncode(t *testing.T) {
	got := encode([]param{{"environment", "production"}, {"ignore", ".svn"}, {"q", "a b+c/d=é"}, {"empty", ""}})
	want := "environment=production&ignore=.svn&q=a%20b%2Bc%2Fd%3D%C3%A9&empty="
	if got != want {
		t.Errorf("encode = %s, want %s", got, want)
	}
}

// TestCatalogRequest checks the catalog request's form as Puppet Server decodes
// it: the facts escaped twice, the parameters in puppet agent's order.
func TestCatalogRequest(t *testing.T) {
	var form, query, accept, ctype, agentHeader string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, query = string(b), r.URL.RawQuery
		accept, ctype, agentHeader = r.Header.Get("Accept"), r.Header.Get("Content-Type"), r.Header.Get("X-Puppet-Version")
		if r.URL.Path != "/puppet/v3/catalog/node1.test" {
			http.Error(w, "bad path "+r.URL.Path, 404)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"name":"node1.test"}`)
	}))
	defer srv.Close()
	c := NewClient(srv.URL, nil, DefaultHTTPOptions)
	facts := &Facts{Name: "node1.test", Values: map[string]any{"os": map[string]any{"family": "Debian"}, "motd": "a b&c"},
		Time: time.Date(2026, 12, 3, 12, 0, 0, 5, time.UTC), Expiration: time.Date(2026, 12, 3, 12, 30, 0, 5, time.UTC)}
	wire, err := facts.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Catalog(context.Background(), CatalogRequest{Certname: "node1.test", Environment: "production",
		Configured: "production", TransactionID: "u-1"}, wire); err != nil {
		t.Fatal(err)
	}
	if query != "environment=production" || accept != acceptCatalog || ctype != "application/x-www-form-urlencoded" || agentHeader != PuppetVersion {
		t.Errorf("query %q, Accept %q, Content-Type %q, X-Puppet-Version %q", query, accept, ctype, agentHeader)
	}
	keys := []string{}
	for _, kv := range strings.Split(form, "&") {
		keys = append(keys, strings.SplitN(kv, "=", 2)[0])
	}
	if got := strings.Join(keys, ","); got != "facts_format,facts,environment,configured_environment,check_environment,transaction_uuid,job_uuid,static_catalog,checksum_type" {
		t.Errorf("form keys %s", got)
	}
	vals, err := url.ParseQuery(form)
	if err != nil {
		t.Fatal(err)
	}
	// The server form-decodes, then CGI.unescapes again.
	once := vals.Get("facts")
	if strings.HasPrefix(once, "{") {
		t.Fatalf("facts escaped only once: %s", once)
	}
	twice, err := url.QueryUnescape(once)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"node1.test","values":{"motd":"a b&c","os":{"family":"Debian"}},"timestamp":"2026-12-03T12:00:00.000000005+00:00","expiration":"2026-12-03T12:30:00.000000005+00:00"}`; twice != want {
		t.Errorf("facts\n got %s\nwant %s", twice, want)
	}
	if vals.Get("checksum_type") != "sha256.sha384.sha512.sha224.md5" || vals.Get("check_environment") != "true" || vals.Get("static_catalog") != "true" {
		t.Errorf("form %v", vals)
	}
}

func TestResponseError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/puppet/v3/catalog/json.test":
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
			w.WriteHeader(500)
			io.WriteString(w, `{"message":"Server Error: Evaluation Error: boom","issue_kind":"RUNTIME_ERROR"}`)
		default:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(404)
			io.WriteString(w, "Could not find certificate x\n")
		}
	}))
	defer srv.Close()
	c := NewClient(srv.URL, nil, DefaultHTTPOptions)
	_, err := c.Catalog(context.Background(), CatalogRequest{Certname: "json.test", Environment: "production"}, []byte("{}"))
	if err == nil || err.Error() != "Error 500 on SERVER: Server Error: Evaluation Error: boom" {
		t.Errorf("500: %v", err)
	}
	_, err = c.Certificate(context.Background(), "x")
	if !NotFound(err) || err.Error() != "Error 404 on SERVER: Could not find certificate x" {
		t.Errorf("404: %v", err)
	}
}

func TestFacterMessages(t *testing.T) {
	in := "[2026-12-03 11:41:51.507186 ] ERROR Facter::InternalFactManager - \x1b[31mPermission denied @ rb_sysopen - /proc/1/environ\x1b[0m \n" +
		"[2026-12-03 11:41:52.0 ] WARN Facter::Util - slow\n\nboom\n"
	got := FacterMessages([]byte(in))
	want := []FacterMessage{{"ERROR", "Permission denied @ rb_sysopen - /proc/1/environ"}, {"WARN", "slow"}, {"ERROR", "boom"}}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: got %q, want %q", i, got[i], want[i])
		}
	}
}

// TestRetryAfter: a 503 or 429 with Retry-After is sent again after the wait it
// asks for (at most RetryAfter), with Puppet's warning; one without it is an
// error at once, and so is a header that is no number of seconds nor a date.
func TestRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/puppet/v3/busy":
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			if n == 2 {
				w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(time.RFC1123Z))
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			fmt.Fprint(w, "ok")
		case "/puppet/v3/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/puppet/v3/bad":
			w.Header().Set("Retry-After", "soon")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	c := NewClient(srv.URL, nil, HTTPOptions{Connect: time.Second, Read: time.Second, RetryAfter: 100 * time.Millisecond})
	var log lines
	c.Log = &log
	start := time.Now()
	data, err := c.do(t.Context(), request{method: "GET", path: "/puppet/v3/busy"})
	if err != nil || string(data) != "ok" {
		t.Fatalf("busy: %q %v", data, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v: the waits are not bounded by RetryAfter", took)
	}
	if want := []string{"Warning: Sleeping for 0 seconds before retrying the request", "Warning: Sleeping for 0 seconds before retrying the request"}; !reflect.DeepEqual([]string(log), want) {
		t.Errorf("logged %q, want %q", log, want)
	}
	var re *ResponseError
	if _, err := c.do(t.Context(), request{method: "GET", path: "/puppet/v3/down"}); !errors.As(err, &re) || re.Code != 503 || re.Reason != "Service Unavailable" {
		t.Errorf("503 without Retry-After: %v, want the response error at once", err)
	}
	if _, err := c.do(t.Context(), request{method: "GET", path: "/puppet/v3/bad"}); err == nil || err.Error() != "Failed to parse Retry-After header 'soon' as an integer or RFC 2822 date" {
		t.Errorf("bad Retry-After: %v", err)
	}
}

// TestRedirects follows redirects as Puppet::HTTP::Redirector does (checked
// against Puppet 7.23's client): 301, 302 and 307 are sent again to their
// Location with the same method, body and headers, at most 10 times; 303 and
// 308 are answers.
func TestRedirects(t *testing.T) {
	type sent struct{ method, path, body, ctype string }
	var (
		mu   sync.Mutex
		got  []sent
		srv  *httptest.Server
		base string
	)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, sent{r.Method, r.URL.Path, string(b), r.Header.Get("Content-Type")})
		mu.Unlock()
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/r/"):
			code, _ := strconv.Atoi(strings.TrimPrefix(p, "/r/"))
			w.Header().Set("Location", "/final")
			w.WriteHeader(code)
		case p == "/absolute":
			w.Header().Set("Location", base+"/final")
			w.WriteHeader(http.StatusFound)
		case p == "/loop":
			w.Header().Set("Location", "/loop")
			w.WriteHeader(http.StatusFound)
		case p == "/noloc":
			w.WriteHeader(http.StatusMovedPermanently)
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	defer srv.Close()
	base = srv.URL
	c := NewClient(srv.URL, nil, HTTPOptions{Connect: time.Second, Read: time.Second})
	for _, tc := range []struct {
		path    string
		want    string // the answer's body, or its error
		wantReq []sent // the requests after the first
	}{
		{"/r/301", "ok", []sent{{"PUT", "/final", "B", "text/plain"}}},
		{"/r/302", "ok", []sent{{"PUT", "/final", "B", "text/plain"}}},
		{"/r/307", "ok", []sent{{"PUT", "/final", "B", "text/plain"}}},
		{"/absolute", "ok", []sent{{"PUT", "/final", "B", "text/plain"}}},
		{"/r/303", "Error 303 on SERVER: 303 See Other", nil},
		{"/r/308", "Error 308 on SERVER: 308 Permanent Redirect", nil},
		{"/noloc", "Location response header is missing", nil},
		{"/loop", "Too many HTTP redirections for " + srv.URL + "/loop", slices.Repeat([]sent{{"PUT", "/loop", "B", "text/plain"}}, 10)},
	} {
		got = nil
		data, err := c.do(t.Context(), request{method: "PUT", path: tc.path, contentType: "text/plain", body: []byte("B")})
		res := string(data)
		if err != nil {
			res = err.Error()
		}
		if res != tc.want {
			t.Errorf("%s: %q, want %q", tc.path, res, tc.want)
		}
		if len(got) == 0 || got[0] != (sent{"PUT", tc.path, "B", "text/plain"}) {
			t.Fatalf("%s: first request %v", tc.path, got)
		}
		if !reflect.DeepEqual(got[1:], tc.wantReq) && (len(got) > 1 || tc.wantReq != nil) {
			t.Errorf("%s: then sent %v, want %v", tc.path, got[1:], tc.wantReq)
		}
	}
}

// TestReadTimeout: http_read_timeout bounds every read, of the headers and of
// the body, and its expiry is worded as Puppet's client words Net::ReadTimeout.
func TestReadTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/puppet/v3/body" {
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, "half")
			w.(http.Flusher).Flush()
		}
		<-release
	}))
	defer srv.Close()
	defer close(release)
	o := DefaultHTTPOptions
	o.Read = 300 * time.Millisecond
	// Elapsed times print as Ruby's Float rounded to milliseconds does: 0.32,
	// not 0.320.
	c := NewClient(srv.URL, &tls.Config{InsecureSkipVerify: true}, o)
	want := regexp.MustCompile(`^Request to ` + regexp.QuoteMeta(srv.URL) + `/puppet/v3/(headers|body) timed out read operation after 0\.[3-9]\d{0,2} seconds$`)
	for _, path := range []string{"/puppet/v3/headers", "/puppet/v3/body"} {
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // bounded without the read timeout too
		_, err := c.do(ctx, request{method: "GET", path: path})
		cancel()
		if err == nil || !want.MatchString(err.Error()) {
			t.Errorf("%s: %v, want Puppet's read timeout", path, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: took %v", path, took)
		}
	}
}

// TestGatherFactsCancelled: a cancelled Facter goes at once with what its
// custom facts started (here a sleep that holds its stderr open), not after
// they end.
func TestGatherFactsCancelled(t *testing.T) {
	facter := filepath.Join(t.TempDir(), "facter")
	if err := os.WriteFile(facter, []byte("#!/bin/sh\nsleep 30 &\nsleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := GatherFacts(ctx, "a.example.com", false, "", FactOptions{Facter: facter}, time.Hour)
	if err == nil {
		t.Error("a killed Facter gave facts")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("GatherFacts returned after %v", took)
	}
}
