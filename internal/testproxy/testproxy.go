package testproxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Proxy is a running proxy.
type Proxy struct {
	Host, Port string // where it listens

	mu       sync.Mutex
	connects []string // "host:port Proxy-Authorization"
}

// Start starts a proxy that stops when tb ends.
func Start(tb testing.TB) *Proxy {
	tb.Helper()
	p := &Proxy{}
	srv := httptest.NewServer(p)
	tb.Cleanup(srv.Close)
	p.Host, p.Port, _ = net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	return p
}

// ServeHTTP tunnels a CONNECT to where it asks; other methods are refused.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	p.connects = append(p.connects, r.Host+" "+r.Header.Get("Proxy-Authorization"))
	p.mu.Unlock()
	up, err := net.Dial("tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		up.Close()
		return
	}
	fmt.Fprint(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() {
		io.Copy(up, buf)
		up.Close()
	}()
	io.Copy(conn, up)
	conn.Close()
}

// Take returns the CONNECTs asked since the last Take, each as "host:port
// Proxy-Authorization", and forgets them.
func (p *Proxy) Take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.connects
	p.connects = nil
	return c
}
