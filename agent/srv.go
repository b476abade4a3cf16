package agent

import (
	"context"
	"crypto/tls"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// srvService is the DNS SRV service of a Puppet service, as Puppet::HTTP::DNS
// names it: _x-puppet for the server, _x-puppet-ca, _x-puppet-report and
// _x-puppet-fileserver for the others.
func srvService(service string) string {
	if service == "puppet" {
		return "x-puppet"
	}
	return "x-puppet-" + service
}

// LookupSRV is Puppet's SRV resolution (use_srv_records) of service ("puppet",
// "ca", "report", "fileserver") in domain: the targets of its records, in the
// order Puppet tries them (the lowest priority first; within one, drawn at
// random by weight, a weight of 0 counting as 1 and any other as ten times
// itself). A service other than puppet without records of its own takes
// _x-puppet's. A failed lookup is no records, as Ruby's Resolv gives it; an
// empty domain is no lookup ("Domain not known; skipping SRV lookup").
func LookupSRV(ctx context.Context, r *net.Resolver, domain, service string, log Logger) []Server {
	if domain == "" {
		log.Printf(engine.Debug, "Domain not known; skipping SRV lookup")
		return nil
	}
	log.Printf(engine.Debug, "Searching for SRV records for domain: %s", domain)
	// With some records invalid, Go returns the valid ones and an error; Ruby's
	// Resolv would use the valid ones too.
	_, recs, _ := r.LookupSRV(ctx, srvService(service), "tcp", domain)
	log.Printf(engine.Debug, "Found %d SRV records for: _%s._tcp.%s", len(recs), srvService(service), domain)
	if len(recs) == 0 && service != "puppet" {
		return LookupSRV(ctx, r, domain, "puppet", log)
	}
	return srvOrder(recs, rand.IntN)
}

// srvOrder orders records as Puppet::HTTP::DNS#each_srv_record yields them;
// intn draws a number below n.
func srvOrder(recs []*net.SRV, intn func(n int) int) []Server {
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b *net.SRV) int { return int(a.Priority) - int(b.Priority) })
	weight := func(r *net.SRV) int {
		if r.Weight == 0 {
			return 1
		}
		return int(r.Weight) * 10
	}
	var out []Server
	for len(recs) > 0 {
		// The records of the lowest priority left.
		n := 1
		for n < len(recs) && recs[n].Priority == recs[0].Priority {
			n++
		}
		group := recs[:n]
		for len(group) > 0 {
			i := 0
			if len(group) > 1 {
				total := 0
				for _, r := range group {
					total += weight(r)
				}
				chosen, cur := 1+intn(total), 0
				for i = range group {
					if cur += weight(group[i]); cur >= chosen {
						break
					}
				}
			}
			out = append(out, Server{Host: strings.TrimSuffix(group[i].Target, "."), Port: strconv.Itoa(int(group[i].Port))})
			group = slices.Delete(group, i, i+1)
		}
		recs = recs[n:]
	}
	return out
}

// CheckConnection is Puppet's check of a route (Resolver#check_connection?):
// a TLS connection to s for service, made and closed. A failure is logged as
// Puppet logs it ("Connection to URL failed, trying next route: ...").
func CheckConnection(ctx context.Context, s Server, service string, conf *tls.Config, t HTTPOptions, log Logger) bool {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: t.Connect}, Config: conf}
	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(s.Host, s.Port))
	if err == nil {
		conn.Close()
		return true
	}
	logRouteFailed(log, "https://"+net.JoinHostPort(s.Host, s.Port)+servicePrefix(service), time.Since(start), err, "")
	return false
}
