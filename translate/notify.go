package translate

import (
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

func init() {
	register("Notify", Native{Namevar: "name", Build: buildNotify, Redactable: []string{"message"}})
	register("Anchor", Native{Namevar: "name", Build: func(p *Params) engine.Resource {
		p.Namevar("name")
		return &resources.Anchor{}
	}})
}

// buildNotify reads notify's parameters: the message defaults to the name.
func buildNotify(p *Params) engine.Resource {
	n := resources.NewNotify(p.String("message", p.Namevar("name")))
	n.Withpath = p.Bool("withpath", false)
	n.Sensitive = p.Sensitive("message")
	n.Loglevel = loglevel(p)
	return n
}

// loglevels maps Puppet's log levels to the engine's.
var loglevels = map[string]engine.Level{
	"debug": engine.Debug, "info": engine.Info, "verbose": engine.Info,
	"notice": engine.Notice, "warning": engine.Warning,
	"err": engine.Err, "alert": engine.Err, "emerg": engine.Err, "crit": engine.Err,
}

// loglevel reads the loglevel metaparameter (notice by default).
func loglevel(p *Params) engine.Level {
	s := p.String("loglevel", "notice")
	l, ok := loglevels[s]
	if !ok {
		p.Errorf("loglevel", "invalid value %q, want debug, info, notice, warning, err, alert, emerg, crit or verbose", s)
		return engine.Notice
	}
	return l
}
