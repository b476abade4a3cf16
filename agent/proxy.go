package agent

import (
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Proxy is the HTTP proxy puppet agent goes through to reach its servers
// (Puppet::HTTP::Proxy): the http_proxy or HTTP_PROXY environment variable
// wins over the http_proxy_* settings, part by part, and no_proxy or NO_PROXY
// over the no_proxy setting. An empty Host means no proxy.
type Proxy struct {
	Host           string
	Port           int
	User, Password string // no credentials when User is empty
	// NoProxy lists the hosts reached directly, as Puppet reads them:
	// "host", "*.example.com", ".example.com", "host:port", separated by commas.
	NoProxy string
}

// ProxySettings are the puppet.conf settings a Proxy comes from; "none" is
// unset, as in Puppet.
type ProxySettings struct {
	Host, User, Password, NoProxy string
	Port                          int
}

// NewProxy is Puppet's choice of proxy from the environment (lookup, as
// os.LookupEnv: a variable set empty counts, as in Ruby) and the settings.
func NewProxy(lookup func(string) (string, bool), s ProxySettings) Proxy {
	none := func(v string) string {
		if v == "none" {
			return ""
		}
		return v
	}
	p := Proxy{Host: none(s.Host), Port: s.Port, User: none(s.User), Password: none(s.Password), NoProxy: none(s.NoProxy)}
	if s.User == "none" {
		p.Password = ""
	}
	// ENV["http_proxy"] || ENV["HTTP_PROXY"]: the first that is set.
	env, ok := lookup("http_proxy")
	if !ok {
		env, _ = lookup("HTTP_PROXY")
	}
	if u, err := url.Parse(env); env != "" && err == nil {
		if h := u.Hostname(); h != "" {
			p.Host = h
		}
		// Ruby's URI gives a scheme's default port when none is written.
		switch n, err := strconv.Atoi(u.Port()); {
		case err == nil:
			p.Port = n
		case u.Scheme == "http":
			p.Port = 80
		case u.Scheme == "https":
			p.Port = 443
		}
		if u.User != nil {
			// As written (URI#user and #password are not unescaped).
			user, pw, hasPw := strings.Cut(u.User.String(), ":")
			p.User = user
			if hasPw {
				p.Password = pw
			}
		}
	}
	if n, ok := lookup("no_proxy"); ok {
		p.NoProxy = n
	} else if n, ok := lookup("NO_PROXY"); ok {
		p.NoProxy = n
	}
	return p
}

var noProxySep = regexp.MustCompile(`\s*,\s*`)

// bypass is Puppet's no_proxy? for a destination host and port: an entry is a
// pattern ('*' any characters) that must match the end of the host, or of
// "host:port" when it names a port.
func (p Proxy) bypass(host, port string) bool {
	if p.NoProxy == "" {
		return false
	}
	for _, d := range noProxySep.Split(p.NoProxy, -1) {
		if d == "" {
			// Ruby's split drops a trailing empty entry (an inner one fails
			// Puppet's request): never one that matches every host.
			continue
		}
		h, pt, hasPort := strings.Cut(d, ":")
		if hasPort {
			// Ruby's split(':') keeps the second part only.
			pt, _, _ = strings.Cut(pt, ":")
		}
		pattern := strings.ReplaceAll(regexp.QuoteMeta(h), `\*`, `.*`)
		dest := host
		if hasPort && pt != "" {
			pattern += ":" + regexp.QuoteMeta(pt)
			dest = net.JoinHostPort(host, port)
			if !strings.Contains(host, ":") {
				dest = host + ":" + port
			}
		}
		re, err := regexp.Compile("(?m)" + pattern + "$")
		if err == nil && re.MatchString(dest) {
			return true
		}
	}
	return false
}

// addr is where the proxy listens, host:port.
func (p Proxy) addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// proxyFunc is the transport's Proxy: the proxy's URL for a request, nil for
// one that goes directly.
func (p Proxy) proxyFunc(req *http.Request) (*url.URL, error) {
	if p.Host == "" {
		return nil, nil
	}
	port := req.URL.Port()
	if port == "" {
		port = "443"
		if req.URL.Scheme == "http" {
			port = "80"
		}
	}
	if p.bypass(req.URL.Hostname(), port) {
		return nil, nil
	}
	u := &url.URL{Scheme: "http", Host: p.addr()}
	if p.User != "" {
		u.User = url.UserPassword(p.User, p.Password)
	}
	return u, nil
}
