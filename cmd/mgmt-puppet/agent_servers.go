package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/mgmt-puppet/mgmt-puppet/agent"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// servers are the Puppet Server services of one run: from server, ca_server and
// report_server; or, with server_list, the first server of the list that
// answers (Puppet's ServerList resolver), asked at most once a run, which every
// service uses but a ca_server or report_server set in puppet.conf or on the
// command line.
//
// With use_srv_records, every service is first looked up in DNS (Puppet's SRV
// resolver, before the others): the first target of its SRV records in
// srv_domain that takes a connection, once a run.
type servers struct {
	r    *agentRun
	list []agent.Server
	// asked: the list was asked this run; chosen is the server that answered.
	asked  bool
	chosen *agent.Server
	// bySRV are the services resolved by SRV records this run; nil: none answered.
	bySRV map[string]*agent.Server
}

func newServers(r *agentRun) *servers {
	return &servers{r: r, list: agent.ParseServerList(r.set.String("server_list"), r.set.String("serverport"))}
}

// next forgets the last run's choice: each run asks again, as each of Puppet's
// runs has a session of its own.
func (s *servers) next() { s.asked, s.chosen, s.bySRV = false, nil, nil }

// srv resolves service by its SRV records, when use_srv_records says so.
func (s *servers) srv(ctx context.Context, service string, conf *tls.Config) (agent.Server, bool) {
	if use, _ := s.r.set.Bool("use_srv_records"); !use {
		return agent.Server{}, false
	}
	if c, ok := s.bySRV[service]; ok {
		if c == nil {
			return agent.Server{}, false
		}
		return *c, true
	}
	if s.bySRV == nil {
		s.bySRV = map[string]*agent.Server{}
	}
	s.r.log.Printf(engine.Debug, "Resolving service '%s' using Puppet::HTTP::Resolver::SRV", service)
	for _, c := range agent.LookupSRV(ctx, net.DefaultResolver, s.r.set.String("srv_domain"), service, s.r.log) {
		if agent.CheckConnection(ctx, c, service, conf, s.r.httpOpts, s.r.log) {
			s.bySRV[service] = &c
			return c, true
		}
	}
	s.bySRV[service] = nil
	return agent.Server{}, false
}

// pick asks the list, once a run, with conf as the TLS configuration.
func (s *servers) pick(ctx context.Context, conf *tls.Config) (agent.Server, bool) {
	if !s.asked {
		s.asked = true
		if c, ok := agent.SelectServer(ctx, s.list, conf, s.r.httpOpts, s.r.log); ok {
			s.chosen = &c
		}
	}
	if s.chosen == nil {
		return agent.Server{}, false
	}
	return *s.chosen, true
}

// ca resolves the CA's URL when the SSL bootstrap needs it.
func (s *servers) ca(ctx context.Context, conf *tls.Config) (string, error) {
	set := s.r.set
	if c, ok := s.srv(ctx, "ca", conf); ok {
		return serviceURL(c.Host, c.Port), nil
	}
	if len(s.list) == 0 || set.Given("ca_server") {
		return serviceURL(set.String("ca_server"), set.String("ca_port")), nil
	}
	c, ok := s.pick(ctx, conf)
	if !ok {
		return "", &agent.RouteError{Service: "ca"}
	}
	return serviceURL(c.Host, c.Port), nil
}

// puppet resolves the server of the run: its URL, the server_used of the
// report, and whether pluginsync goes on. With a server_list none of whose
// servers answers, the run fails, unless usecacheonfailure lets it go on with
// the list's first server (and no pluginsync), as Puppet's does.
func (s *servers) puppet(ctx context.Context, conf *tls.Config) (url, used string, pluginsync bool, err error) {
	set := s.r.set
	// The report's server_used names the server only when server_list chose it,
	// as Puppet's configurer sets it.
	if c, ok := s.srv(ctx, "puppet", conf); ok {
		return serviceURL(c.Host, c.Port), "", true, nil
	}
	if len(s.list) == 0 {
		return serviceURL(set.String("server"), set.String("serverport")), "", true, nil
	}
	c, ok := s.pick(ctx, conf)
	if ok {
		s.r.log.Printf(engine.Debug, "Selected puppet server from the `server_list` setting: %s", c)
		return serviceURL(c.Host, c.Port), c.String(), true, nil
	}
	msg := fmt.Sprintf("Could not select a functional puppet server from server_list: '%s'", set.String("server_list"))
	if cache, _ := set.Bool("usecacheonfailure"); !cache {
		return "", "", false, fmt.Errorf("%s", msg)
	}
	s.r.log.Printf(engine.Err, "%s", msg)
	first := s.list[0]
	return serviceURL(first.Host, first.Port), "", false, nil
}

// report is the URL reports go to.
func (s *servers) report(ctx context.Context) string {
	set := s.r.set
	if c, ok := s.srv(ctx, "report", s.r.tls); ok {
		return serviceURL(c.Host, c.Port)
	}
	if s.chosen == nil || set.Given("report_server") {
		return serviceURL(set.String("report_server"), set.String("report_port"))
	}
	return serviceURL(s.chosen.Host, s.chosen.Port)
}
