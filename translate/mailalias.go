package translate

import (
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// Mailalias of mailalias_core (Debian's puppet-module-puppetlabs-mailalias-core).
func init() {
	register("Mailalias", Native{
		Namevar:    "name",
		Build:      buildMailalias,
		Redactable: []string{"ensure", "recipient", "file", "target"},
	})
}

func buildMailalias(p *Params) engine.Resource {
	m := &resources.Mailalias{Name: p.Namevar("name"), Target: p.String("target", "/etc/aliases"),
		Sensitive: map[string]bool{"recipient": p.Sensitive("recipient"), "file": p.Sensitive("file")}}
	m.Absent = ensureAbsent(p)
	if p.Has("recipient") {
		r := p.Strings("recipient")
		m.Recipient = &r
	}
	if f, ok := p.OptString("file"); ok {
		m.File = &f
	}
	if v, ok := p.OptString("provider"); ok && v != "aliases" {
		p.Unsupportedf("provider", "%s", v)
	}
	return m
}
