package translate

import (
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// Service with Debian's provider, systemd.
func init() {
	register("Service", Native{
		Namevar:    "name",
		Build:      buildService,
		Redactable: []string{"ensure", "enable"},
		// Puppet's systemd provider never reads these: its status is always
		// systemctl is-active, and it runs no init script.
		Ignorable: []string{"hasstatus", "binary", "path", "pattern", "control", "manifest"},
	})
}

func buildService(p *Params) engine.Resource {
	s := &resources.Service{Name: p.Namevar("name")}
	if e, ok := p.OptString("ensure"); ok {
		switch e {
		case "running", "true":
			s.Ensure = "running"
		case "stopped", "false":
			s.Ensure = "stopped"
		default:
			p.Errorf("ensure", "Invalid value %q. Valid values are stopped, running.", e)
		}
	}
	if p.Has("enable") {
		v, _ := p.Raw("enable")
		switch e, _ := scalarString(v); e {
		case "true", "false", "mask":
			s.Enable = e
		default:
			p.Errorf("enable", "Invalid value %q. Valid values are true, false, mask.", e)
		}
	}
	s.HasRestart = p.Bool("hasrestart", true)
	s.Start = p.String("start", "")
	s.Stop = p.String("stop", "")
	s.Restart = p.String("restart", "")
	s.Status = p.String("status", "")
	if v, ok := p.OptString("provider"); ok && v != "systemd" {
		p.Unsupportedf("provider", "%s", v)
	}
	return s
}
