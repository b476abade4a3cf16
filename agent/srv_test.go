package agent

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testdns"
)

// TestSRVOrder: the lowest priority first; within one, drawn by weight as
// Puppet::HTTP::DNS#find_weighted_server draws (weight 0 counts 1, any other ten
// times itself; the draw is 1 + rand(total)).
func TestSRVOrder(t *testing.T) {
	recs := []*net.SRV{
		{Target: "c.test.", Port: 8140, Priority: 10, Weight: 0},
		{Target: "a.test.", Port: 8140, Priority: 0, Weight: 1},
		{Target: "b.test.", Port: 8141, Priority: 0, Weight: 3},
		{Target: "d.test.", Port: 8140, Priority: 10, Weight: 0},
	}
	tests := []struct {
		name  string
		draws []int // what intn returns, in turn
		want  string
	}{
		// Priority 0: a weighs 10, b 30: a draw of 1..10 is a, 11..40 b.
		{"first of the lightest", []int{9, 0}, "a.test:8140 b.test:8141 c.test:8140 d.test:8140"},
		{"heavier", []int{10, 1}, "b.test:8141 a.test:8140 d.test:8140 c.test:8140"},
	}
	for _, tt := range tests {
		i := 0
		intn := func(n int) int {
			d := tt.draws[i%len(tt.draws)]
			i++
			if d >= n {
				t.Fatalf("%s: draw %d of %d", tt.name, d, n)
			}
			return d
		}
		var got []string
		for _, s := range srvOrder(recs, intn) {
			got = append(got, s.String())
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, got, tt.want)
		}
	}
}

// resolverFor is a Go resolver that asks only the DNS server at addr.
func resolverFor(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// TestLookupSRV asks a DNS server: a service of its own records, one that
// takes _x-puppet's, and names without any.
func TestLookupSRV(t *testing.T) {
	dns := testdns.Serve(t, "127.0.0.1:0", map[string][]testdns.SRV{
		"_x-puppet._tcp.site.test":            {{Priority: 0, Weight: 5, Port: 8140, Target: "puppet1.site.test"}},
		"_x-puppet-ca._tcp.site.test":         {{Priority: 0, Weight: 0, Port: 8141, Target: "ca.site.test."}},
		"_x-puppet-fileserver._tcp.site.test": {{Priority: 0, Weight: 0, Port: 8142, Target: "files.site.test"}},
	})
	r := resolverFor(dns)
	var log lines
	for _, tt := range []struct {
		domain, service string
		want            []Server
	}{
		{"site.test", "puppet", []Server{{"puppet1.site.test", "8140"}}},
		{"site.test", "ca", []Server{{"ca.site.test", "8141"}}},
		{"site.test", "report", []Server{{"puppet1.site.test", "8140"}}},
		{"site.test", "fileserver", []Server{{"files.site.test", "8142"}}},
		{"other.test", "ca", nil},
		{"", "puppet", nil},
	} {
		if got := LookupSRV(t.Context(), r, tt.domain, tt.service, &log); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s in %q: %v, want %v", tt.service, tt.domain, got, tt.want)
		}
	}
	if want := "Debug: Found 0 SRV records for: _x-puppet-report._tcp.site.test"; !strings.Contains(strings.Join(log, "\n"), want) {
		t.Errorf("logged %q, want a line %q", log, want)
	}
}

// TestCheckConnection: a server that takes a TLS connection is a route; a port
// nobody listens on is logged as Puppet logs a route that failed.
func TestCheckConnection(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	conf := &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	var log lines
	opts := HTTPOptions{Connect: 5 * time.Second}
	if !CheckConnection(t.Context(), Server{host, port}, "puppet", conf, opts, &log) || len(log) > 0 {
		t.Errorf("a listening server is not a route: %q", log)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	if CheckConnection(t.Context(), Server{"127.0.0.1", dead[strings.LastIndexByte(dead, ':')+1:]}, "ca", conf, opts, &log) {
		t.Error("a closed port is a route")
	}
	want := "Error: Connection to https://" + dead + "/puppet-ca/v1 failed, trying next route: Request to https://" + dead +
		"/puppet-ca/v1 failed after "
	if len(log) != 1 || !strings.HasPrefix(log[0], want) || !strings.HasSuffix(log[0], "(Connection refused - connect(2) for "+dead+")") {
		t.Errorf("logged %q, want %s...", log, want)
	}
}
