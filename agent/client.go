package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// PuppetVersion is the puppet agent whose requests these are.
const PuppetVersion = "7.23.0"

// userAgent is puppet agent 7.23's http_user_agent on Debian 12.
const userAgent = "Puppet/" + PuppetVersion + " Ruby/3.1.2-p20 (x86_64-linux-gnu)"

// Accept headers as puppet agent sends them.
const (
	acceptJSON    = "application/json, text/pson"
	acceptCatalog = "application/json, application/vnd.puppet.rich+json, text/pson"
	acceptText    = "text/plain"
	acceptBinary  = "application/octet-stream"
)

// HTTPOptions are puppet agent's http_connect_timeout and http_read_timeout, its
// runinterval as the longest wait before a retry, and its proxy.
type HTTPOptions struct {
	Connect, Read time.Duration
	// RetryAfter bounds the wait a 429 or 503 response's Retry-After asks for
	// (Puppet's runinterval); zero is DefaultHTTPOptions'.
	RetryAfter time.Duration
	Proxy      Proxy
}

// DefaultHTTPOptions are Puppet's defaults: 2 minutes to connect, 10 to read, and
// a wait of at most runinterval's 30 minutes before a retry.
var DefaultHTTPOptions = HTTPOptions{Connect: 2 * time.Minute, Read: 10 * time.Minute, RetryAfter: 30 * time.Minute}

// retryLimit is how many times Puppet's client retries a request after
// Retry-After.
const retryLimit = 100

// Client sends requests to one Puppet Server service (the server, its CA, or the
// report server) over one TLS configuration.
type Client struct {
	base string // https://host:port
	hc   *http.Client
	// retryMax bounds a Retry-After wait.
	retryMax time.Duration
	// readTimeout bounds each read of a response body (the headers are bounded
	// by the transport), as Net::HTTP's read_timeout bounds every read.
	readTimeout time.Duration
	via         string // the proxy's host:port, when there is one
	// Log, when set, takes Puppet's "Connection to ... failed" lines.
	Log Logger
}

// RouteError says a service could not be connected to at all, worded as
// Puppet's: "No more routes to fileserver".
type RouteError struct {
	Service string // ca, puppet, fileserver, report
	Err     error
}

func (e *RouteError) Error() string { return "No more routes to " + e.Service }
func (e *RouteError) Unwrap() error { return e.Err }

// serviceOf names the Puppet service of a request path, and its base path.
func serviceOf(path string) (name, prefix string) {
	switch {
	case strings.HasPrefix(path, "/puppet-ca/"):
		name = "ca"
	case strings.HasPrefix(path, "/puppet/v3/report/"):
		name = "report"
	case strings.HasPrefix(path, "/puppet/v3/file_"), strings.HasPrefix(path, "/puppet/v3/static_file_content/"):
		name = "fileserver"
	default:
		name = "puppet"
	}
	return name, servicePrefix(name)
}

// servicePrefix is the base path of a Puppet service.
func servicePrefix(service string) string {
	if service == "ca" {
		return "/puppet-ca/v1"
	}
	return "/puppet/v3"
}

// logRouteFailed logs, as Puppet's resolvers do, that the service at base could
// not be connected to (err, after took; via is the proxy, if any).
func logRouteFailed(log Logger, base string, took time.Duration, err error, via string) {
	log.Printf(engine.Err, "Connection to %s failed, trying next route: %v", base, &RequestError{URL: base, Took: took, Err: err, Via: via})
}

// connectFailed says whether err happened before a request could be sent:
// no connection, or a server that failed verification.
func connectFailed(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		// (Everything that fails on the way to a proxy is a proxyconnect.)
		return true
	}
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &host) || errors.As(err, &unknown) || errors.As(err, &invalid)
}

// NewClient returns a client of the service at base ("https://host:port").
func NewClient(base string, conf *tls.Config, t HTTPOptions) *Client {
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		Proxy:                 t.Proxy.proxyFunc,
		TLSClientConfig:       conf,
		TLSHandshakeTimeout:   t.Connect,
		ResponseHeaderTimeout: t.Read,
		IdleConnTimeout:       4 * time.Second, // Puppet's keep-alive pool
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     false,
	}
	retryMax := t.RetryAfter
	if retryMax <= 0 {
		retryMax = DefaultHTTPOptions.RetryAfter
	}
	// Redirects are followed by do, as Puppet's client follows them.
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c := &Client{base: strings.TrimSuffix(base, "/"), hc: hc, retryMax: retryMax, readTimeout: t.Read}
	if t.Proxy.Host != "" {
		c.via = t.Proxy.addr()
	}
	return c
}

// timeoutBody is a response body each of whose reads must end within timeout:
// the request is cancelled when one does not. (A deadline on the connection
// would not do: the transport's pooled connections are read before a request
// is sent on them.)
type timeoutBody struct {
	body     io.Reader
	timeout  time.Duration
	cancel   context.CancelFunc
	timedOut atomic.Bool
}

func (b *timeoutBody) Read(p []byte) (int, error) {
	t := time.AfterFunc(b.timeout, func() {
		b.timedOut.Store(true)
		b.cancel()
	})
	n, err := b.body.Read(p)
	t.Stop()
	if err != nil && b.timedOut.Load() {
		err = readTimeoutError{}
	}
	return n, err
}

// readTimeoutError is a read that took longer than the read timeout.
type readTimeoutError struct{}

func (readTimeoutError) Error() string   { return "read timeout" }
func (readTimeoutError) Timeout() bool   { return true }
func (readTimeoutError) Temporary() bool { return false }

// Close closes idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Base is the service's URL.
func (c *Client) Base() string { return c.base }

// ResponseError is a response other than 2xx, with the message the server gave.
type ResponseError struct {
	Code    int
	Reason  string // the status line's reason phrase: "Service Unavailable"
	Message string
}

// RequestError is a request that got no answer, worded as Puppet words it.
type RequestError struct {
	URL  string
	Took time.Duration
	Err  error
	// Via is the proxy the request went through (host:port), if any: a
	// connection refused is its.
	Via string
}

func (e *RequestError) Error() string {
	err := e.Err.Error()
	var op *net.OpError
	isOp := errors.As(e.Err, &op)
	var ne net.Error
	if errors.As(e.Err, &ne) && ne.Timeout() {
		// Net::OpenTimeout or Net::ReadTimeout, as Puppet's client words them.
		what := "read"
		if isOp && (op.Op == "dial" || op.Op == "proxyconnect") || strings.Contains(err, "TLS handshake timeout") {
			// Net::HTTP's open_timeout covers the TLS handshake too.
			what = "connect"
		}
		return fmt.Sprintf("Request to %s timed out %s operation after %s seconds", e.URL, what, rubySeconds(e.Took))
	}
	if errors.Is(e.Err, syscall.ECONNREFUSED) {
		// Ruby's Net::HTTP words it so, naming the address it dialled.
		if u, perr := url.Parse(e.URL); perr == nil {
			addr := u.Host
			if isOp && op.Op == "proxyconnect" && e.Via != "" {
				addr = e.Via
			}
			err = fmt.Sprintf("Failed to open TCP connection to %s (Connection refused - connect(2) for %s)", addr, addr)
		}
	}
	if errors.Is(e.Err, io.ErrUnexpectedEOF) || errors.Is(e.Err, io.EOF) {
		return fmt.Sprintf("Request to %s interrupted after %s seconds", e.URL, rubySeconds(e.Took))
	}
	return fmt.Sprintf("Request to %s failed after %s seconds: %s", e.URL, rubySeconds(e.Took), err)
}

// rubySeconds is a duration as Puppet prints its elapsed time: seconds
// rounded to 3 decimals, printed as a Ruby Float ("0.31", "120.0").
func rubySeconds(d time.Duration) string {
	s := strconv.FormatFloat(math.Round(d.Seconds()*1000)/1000, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func (e *RequestError) Unwrap() error { return e.Err }

// Error reads as Puppet's: "Error 500 on SERVER: ...".
func (e *ResponseError) Error() string {
	return fmt.Sprintf("Error %d on SERVER: %s", e.Code, e.Message)
}

// NotFound says whether err is a 404 from the server.
func NotFound(err error) bool {
	re, ok := err.(*ResponseError)
	return ok && re.Code == http.StatusNotFound
}

// param is one query or form parameter; order matters to the server's logs only,
// but Puppet's order is kept.
type param struct{ key, value string }

// escape is Ruby's CGI.escape with spaces as %20, as Puppet::Util.uri_query_encode
// encodes parameters.
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func encode(ps []param) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escape(p.key))
		b.WriteByte('=')
		b.WriteString(escape(p.value))
	}
	return b.String()
}

// request is one call to the service.
type request struct {
	method, path string // path already escaped
	query        []param
	accept       string
	contentType  string
	body         []byte
	// ifModifiedSince, when set, asks for the resource only if it changed since.
	ifModifiedSince time.Time
}

// do sends r and returns the body of a 2xx response. A 429 or 503 response
// with Retry-After is retried after the wait it asks for, as Puppet's client
// retries it: at most runinterval, at most retryLimit times. A 301, 302 or 307
// is followed as Puppet's client follows it (Puppet::HTTP::Redirector): with the
// same method, body and headers, at most redirectLimit times; a 303 or 308 is
// an answer like any other.
func (c *Client) do(ctx context.Context, r request) ([]byte, error) {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + encode(r.query)
	}
	redirects, retries := 0, 0
	for {
		data, next, wait, err := c.once(ctx, r, u, redirects > 0, retries)
		switch {
		case next != "":
			if redirects >= redirectLimit {
				return nil, fmt.Errorf("Too many HTTP redirections for %s", u)
			}
			u = next
			redirects++
			continue
		case wait < 0:
			return data, err
		}
		retries++
		if c.Log != nil {
			c.Log.Printf(engine.Warning, "Sleeping for %d seconds before retrying the request", int(wait.Seconds()))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// redirectLimit is how many redirects Puppet's client follows for a request.
const redirectLimit = 10

// redirectTo is where a redirect response sends the request to u: "" when the
// response is not one Puppet's client follows.
func redirectTo(resp *http.Response, u string) (string, error) {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect:
	default:
		return "", nil
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", errors.New("Location response header is missing")
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("Location URI is invalid: %v", err)
	}
	base, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	return base.ResolveReference(ref).String(), nil
}

// retryAfter is how long a response asks to be waited for before the request
// is sent again: -1 when it asks for no retry (no Retry-After).
func (c *Client) retryAfter(resp *http.Response, u string, retries int) (time.Duration, error) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return -1, nil
	}
	if retries >= retryLimit {
		return -1, fmt.Errorf("Too many HTTP retries for %s", u)
	}
	h := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if h == "" {
		return -1, nil
	}
	var wait time.Duration
	if n, err := strconv.Atoi(h); err == nil {
		wait = time.Duration(max(n, 0)) * time.Second
	} else if at, err := mail.ParseDate(h); err == nil {
		wait = max(time.Until(at).Truncate(time.Second), 0)
	} else {
		return -1, fmt.Errorf("Failed to parse Retry-After header '%s' as an integer or RFC 2822 date", h)
	}
	return min(wait, c.retryMax), nil
}

// once sends r to u once: the body of a 2xx response, the URL a redirect sends
// it to, or the wait before a retry (-1: none). redirected says u is where a
// redirect sent it.
func (c *Client) once(ctx context.Context, r request, u string, redirected bool, retries int) (data []byte, next string, wait time.Duration, err error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, "", -1, err
	}
	req.Header.Set("X-Puppet-Version", PuppetVersion)
	req.Header.Set("User-Agent", userAgent)
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if !r.ifModifiedSince.IsZero() {
		req.Header.Set("If-Modified-Since", r.ifModifiedSince.UTC().Format(http.TimeFormat))
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		// Worded as Puppet words a request that got no answer.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		took := time.Since(start)
		if connectFailed(err) && !redirected {
			// Puppet connects to a service before it sends a request, and says so
			// when no route to it is left.
			name, prefix := serviceOf(r.path)
			if c.Log != nil {
				logRouteFailed(c.Log, c.base+prefix, took, err, c.via)
			}
			return nil, "", -1, &RouteError{Service: name, Err: &RequestError{URL: u, Took: took, Err: err, Via: c.via}}
		}
		return nil, "", -1, &RequestError{URL: u, Took: took, Err: err, Via: c.via}
	}
	defer resp.Body.Close()
	var rd io.Reader = resp.Body
	if c.readTimeout > 0 {
		rd = &timeoutBody{body: resp.Body, timeout: c.readTimeout, cancel: cancel}
	}
	data, err = io.ReadAll(rd)
	if err != nil {
		return nil, "", -1, &RequestError{URL: u, Took: time.Since(start), Err: err, Via: c.via}
	}
	if next, err := redirectTo(resp, u); err != nil || next != "" {
		return nil, next, -1, err
	}
	if wait, err := c.retryAfter(resp, u, retries); err != nil || wait >= 0 {
		return nil, "", wait, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, "", -1, &ResponseError{Code: resp.StatusCode, Reason: strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode))),
			Message: errorMessage(resp, data)}
	}
	return data, "", -1, nil
}

// errorMessage is the message of an error response: the "message" of Puppet
// Server's JSON error body, else the body as text, else the status line.
func errorMessage(resp *http.Response, data []byte) string {
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return e.Message
		}
	}
	if s := strings.TrimSpace(string(data)); s != "" {
		return s
	}
	return resp.Status
}

// pathEscape escapes each segment of a name put in a URL path
// (Puppet::Util.uri_encode).
func pathEscape(s string) string {
	parts := strings.Split(s, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
