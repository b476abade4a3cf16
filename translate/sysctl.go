package translate

import (
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// Sysctl and Sysctl_runtime of duritong-sysctl (Debian's puppet-module-duritong-sysctl).
func init() {
	register("Sysctl", Native{
		Namevar:    "name",
		Build:      buildSysctl,
		Redactable: []string{"ensure", "val", "target"},
	})
	register("Sysctl_runtime", Native{
		Namevar:    "name",
		Build:      buildSysctlRuntime,
		Redactable: []string{"val"},
		// Its provider needs the sysctl command (procps): without it Puppet fails
		// the resources as it does, so Puppet runs them.
		Suitable: func() bool { _, ok := resources.SysctlCommand(); return ok },
	})
}

func buildSysctl(p *Params) engine.Resource {
	s := &resources.Sysctl{Name: p.Namevar("name"), Target: p.String("target", "/etc/sysctl.conf"),
		Sensitive: map[string]bool{"val": p.Sensitive("val")}}
	s.Absent = ensureAbsent(p)
	if v, ok := p.OptString("val"); ok {
		s.Val = &v
	}
	if v, ok := p.OptString("provider"); ok && v != "parsed" {
		p.Unsupportedf("provider", "%s", v)
	}
	return s
}

func buildSysctlRuntime(p *Params) engine.Resource {
	s := &resources.SysctlRuntime{Name: p.Namevar("name"), Sensitive: p.Sensitive("val")}
	if v, ok := p.OptString("val"); ok {
		s.Val = &v
	}
	if v, ok := p.OptString("provider"); ok && v != "sysctl_runtime" {
		p.Unsupportedf("provider", "%s", v)
	}
	return s
}
