package translate

import (
	"errors"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// host_core's host, with its parsed provider: a line of /etc/hosts (or target).
func init() {
	register("Host", Native{
		Namevar:    "name",
		Build:      buildHost,
		Redactable: []string{"ensure", "ip", "host_aliases", "comment", "target"},
	})
}

func buildHost(p *Params) engine.Resource {
	h := &resources.Host{Name: p.Namevar("name"), Target: p.String("target", "/etc/hosts")}
	h.Absent = ensureAbsent(p)
	if s, ok := p.OptString("ip"); ok {
		h.IP = &s
	}
	if p.Has("host_aliases") {
		a := p.Strings("host_aliases")
		if a == nil {
			a = []string{}
		}
		h.Aliases = &a
	}
	if s, ok := p.OptString("comment"); ok {
		h.Comment = &s
	}
	parsedProvider(p)
	h.Sensitive = sensitiveOf(p, "ip", "host_aliases", "comment", "target")
	reportRecordErrors(p, h.Validate())
	return h
}

// parsedProvider checks that provider, when set, is parsed, the only one on Linux.
func parsedProvider(p *Params) {
	if s, ok := p.OptString("provider"); ok && s != "parsed" {
		p.Unsupportedf("provider", "%s", s)
	}
}

// sensitiveOf lists which of names are Sensitive, nil when none is.
func sensitiveOf(p *Params, names ...string) map[string]bool {
	var m map[string]bool
	for _, n := range names {
		if p.Sensitive(n) {
			if m == nil {
				m = map[string]bool{}
			}
			m[n] = true
		}
	}
	return m
}

// reportRecordErrors records each problem a record resource's Validate found
// against its parameter.
func reportRecordErrors(p *Params, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		var pe *resources.RecordParamError
		if errors.As(e, &pe) {
			p.Errorf(pe.Param, "%s", pe.Msg)
		} else {
			p.Errorf("name", "%v", e)
		}
	}
}
