package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Server is one entry of puppet.conf's server_list: a host and its port.
type Server struct{ Host, Port string }

// String is host:port, as Puppet prints a server.
func (s Server) String() string { return s.Host + ":" + s.Port }

// ParseServerList reads server_list ("puppet1.example.com:8140,puppet2"): each
// entry a host and an optional port, defaultPort (serverport) when it has none.
func ParseServerList(list, defaultPort string) []Server {
	var out []Server
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		host, port, found := strings.Cut(e, ":")
		if !found || port == "" {
			port = defaultPort
		}
		out = append(out, Server{Host: host, Port: port})
	}
	return out
}

// SelectServer is Puppet's ServerList resolver: it asks each server of the list
// in turn for its simple status (/status/v1/simple/server, then .../master when
// that is not found) and returns the first that answers. Each that does not is
// logged as Puppet logs it: a warning, "Trying with next server from
// server_list.", but for the last, an error. False when none answers.
func SelectServer(ctx context.Context, list []Server, conf *tls.Config, t HTTPOptions, log Logger) (Server, bool) {
	for i, s := range list {
		c := NewClient("https://"+net.JoinHostPort(s.Host, s.Port), conf, t)
		_, err := c.do(ctx, request{method: "GET", path: "/status/v1/simple/server"})
		if NotFound(err) {
			_, err = c.do(ctx, request{method: "GET", path: "/status/v1/simple/master"})
		}
		c.Close()
		if err == nil {
			return s, true
		}
		var msg string
		var re *ResponseError
		if errors.As(err, &re) {
			msg = "Puppet server " + s.String() + " is unavailable: " + strconv.Itoa(re.Code) + " " + re.Reason
		} else {
			var rq *RequestError
			if errors.As(err, &rq) {
				err = rq
			}
			msg = "Unable to connect to server from server_list setting: " + err.Error()
		}
		if i < len(list)-1 {
			log.Printf(engine.Warning, "%s Trying with next server from server_list.", msg)
		} else {
			log.Printf(engine.Err, "%s", msg)
		}
	}
	return Server{}, false
}
