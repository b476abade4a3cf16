package agent

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testproxy"
)

// TestNewProxy: the environment wins over the settings part by part, "none" is
// unset, as Puppet::HTTP::Proxy reads them.
func TestNewProxy(t *testing.T) {
	set := ProxySettings{Host: "setproxy", Port: 3128, User: "none", Password: "none", NoProxy: "localhost, 127.0.0.1"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		set  ProxySettings
		want Proxy
	}{
		{"defaults", nil, ProxySettings{Host: "none", Port: 3128, User: "none", Password: "none", NoProxy: "localhost, 127.0.0.1"},
			Proxy{Port: 3128, NoProxy: "localhost, 127.0.0.1"}},
		{"settings", nil, set, Proxy{Host: "setproxy", Port: 3128, NoProxy: "localhost, 127.0.0.1"}},
		{"user, password none", nil, ProxySettings{Host: "p", Port: 8080, User: "u", Password: "none"},
			Proxy{Host: "p", Port: 8080, User: "u"}},
		{"no user: no password", nil, ProxySettings{Host: "p", Port: 8080, User: "none", Password: "pw"},
			Proxy{Host: "p", Port: 8080}},
		{"http_proxy", map[string]string{"http_proxy": "http://u:pw@envproxy:8888"}, set,
			Proxy{Host: "envproxy", Port: 8888, User: "u", Password: "pw", NoProxy: "localhost, 127.0.0.1"}},
		{"HTTP_PROXY, its scheme's port", map[string]string{"HTTP_PROXY": "http://envproxy"}, set,
			Proxy{Host: "envproxy", Port: 80, NoProxy: "localhost, 127.0.0.1"}},
		{"no host in it", map[string]string{"http_proxy": "envproxy:8888"}, set,
			Proxy{Host: "setproxy", Port: 3128, NoProxy: "localhost, 127.0.0.1"}},
		{"NO_PROXY", map[string]string{"NO_PROXY": ".example.com"}, set,
			Proxy{Host: "setproxy", Port: 3128, NoProxy: ".example.com"}},
		{"no_proxy set empty: nothing bypassed", map[string]string{"no_proxy": "", "NO_PROXY": ".example.com"}, set,
			Proxy{Host: "setproxy", Port: 3128}},
		{"http_proxy set empty hides HTTP_PROXY", map[string]string{"http_proxy": "", "HTTP_PROXY": "http://envproxy:1"}, set,
			Proxy{Host: "setproxy", Port: 3128, NoProxy: "localhost, 127.0.0.1"}},
		{"credentials as written", map[string]string{"http_proxy": "http://u%40x:p%40ss@envproxy:8888"}, set,
			Proxy{Host: "envproxy", Port: 8888, User: "u%40x", Password: "p%40ss", NoProxy: "localhost, 127.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			if got := NewProxy(lookup, tc.set); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestProxyBypass: no_proxy entries match the end of the host (or of
// host:port when they name one), '*' any characters, as Puppet matches them.
func TestProxyBypass(t *testing.T) {
	p := Proxy{Host: "proxy", Port: 3128, NoProxy: "localhost,  127.0.0.1 , *.int.example.com,.corp,db:5432,"}
	for _, tc := range []struct {
		host, port string
		want       bool
	}{
		{"localhost", "8140", true},
		{"127.0.0.1", "8140", true},
		{"puppet.int.example.com", "8140", true},
		{"puppet.example.com", "8140", false},
		{"server.corp", "8140", true},
		{"notlocalhost", "8140", true}, // Puppet's pattern is not anchored at the start
		{"db", "5432", true},
		{"db", "8140", false},
	} {
		if got := p.bypass(tc.host, tc.port); got != tc.want {
			t.Errorf("%s:%s: bypass %v, want %v", tc.host, tc.port, got, tc.want)
		}
	}
}

// TestProxy: the client's requests go through the proxy as CONNECT tunnels,
// with Basic credentials, unless no_proxy names the server.
func TestProxy(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "running")
	}))
	defer srv.Close()
	cp := testproxy.Start(t)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	conf := &tls.Config{InsecureSkipVerify: true}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("u:pw"))
	for _, tc := range []struct {
		name    string
		noProxy string
		want    []string
	}{
		{"through the proxy", "localhost", []string{host + ":" + port + " " + auth}},
		{"no_proxy", "localhost, " + host, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n int
			fmt.Sscan(cp.Port, &n)
			o := DefaultHTTPOptions
			o.Proxy = Proxy{Host: "127.0.0.1", Port: n, User: "u", Password: "pw", NoProxy: tc.noProxy}
			var log lines
			if _, ok := SelectServer(t.Context(), []Server{{host, port}}, conf, o, &log); !ok {
				t.Fatalf("the server was not reached: %v", log)
			}
			if got := cp.Take(); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("the proxy was asked %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("the proxy refuses connections", func(t *testing.T) {
		// Net::HTTP names the address it dialled: the proxy's.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		o := DefaultHTTPOptions
		o.Proxy = Proxy{Host: "127.0.0.1", Port: dead, NoProxy: "localhost"}
		c := NewClient(srv.URL, conf, o)
		_, err = c.do(t.Context(), request{method: "GET", path: "/puppet/v3/x"})
		var route *RouteError
		want := fmt.Sprintf("Failed to open TCP connection to 127.0.0.1:%d (Connection refused - connect(2) for 127.0.0.1:%d)", dead, dead)
		if !errors.As(err, &route) || !strings.Contains(route.Err.Error(), want) {
			t.Errorf("got %v, want a route error naming the proxy: %s", err, want)
		}
	})
}
