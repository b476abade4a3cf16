package translate

import (
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// sshkeys_core's ssh_authorized_key, with its parsed provider: a line of
// ~user/.ssh/authorized_keys (or target). It autorequires its user.
func init() {
	register("Ssh_authorized_key", Native{
		Namevar: "name",
		Build:   buildSSHAuthorizedKey,
		Autorequire: func(p *Params) [][]Ref {
			if v, ok := p.Raw("user"); ok {
				if s, ok := scalarString(v); ok && s != "" {
					return [][]Ref{{{"User", s}}}
				}
			}
			return nil
		},
		Redactable: []string{"ensure", "type", "key", "user", "target", "options"},
	})
}

func buildSSHAuthorizedKey(p *Params) engine.Resource {
	k := &resources.SSHAuthorizedKey{Name: p.Namevar("name"), User: p.String("user", ""), Key: p.String("key", "")}
	k.Absent = ensureAbsent(p)
	k.Type = p.String("type", "")
	if c, ok := resources.SSHKeyTypeAliases[k.Type]; ok {
		k.Type = c
	}
	if t := p.String("target", ""); t != "absent" {
		k.Target = t
	}
	if o := p.Strings("options"); !(len(o) == 1 && o[0] == "absent") {
		k.Options = o
	}
	k.DropPrivileges = p.Bool("drop_privileges", true)
	parsedProvider(p)
	k.Sensitive = sensitiveOf(p, "type", "key", "user", "target", "options")
	reportRecordErrors(p, k.Validate())
	return k
}
