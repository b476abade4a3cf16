package translate

import (
	"strconv"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// User and Group with Debian's providers, useradd and groupadd. A user autorequires
// its primary group and its supplementary groups when the catalog manages them.
func init() {
	register("User", Native{
		Namevar: "name",
		Build:   buildUser,
		Autorequire: func(p *Params) [][]Ref {
			var groups [][]Ref
			if v, ok := p.Raw("gid"); ok {
				if s, ok := scalarString(v); ok {
					if _, err := strconv.Atoi(s); err != nil {
						groups = append(groups, []Ref{{"Group", s}})
					}
				}
			}
			for _, g := range p.Strings("groups") {
				groups = append(groups, []Ref{{"Group", g}})
			}
			return groups
		},
		Redactable: []string{"ensure", "uid", "gid", "groups", "comment", "home", "shell", "password"},
	})
	register("Group", Native{Namevar: "name", Build: buildGroup, Redactable: []string{"ensure", "gid"}})
}

func buildUser(p *Params) engine.Resource {
	u := &resources.User{Name: p.Namevar("name")}
	u.Absent = ensureAbsent(p)
	if p.Has("uid") {
		uid := p.Int("uid", 0)
		u.UID = &uid
	}
	u.GID = p.String("gid", "")
	if p.Has("groups") {
		u.Groups = p.Strings("groups")
		if u.Groups == nil {
			u.Groups = []string{}
		}
	}
	u.Inclusive = p.Enum("membership", "minimum", "minimum", "inclusive") == "inclusive"
	u.Home = p.String("home", "")
	u.ManageHome = p.Bool("managehome", false)
	u.Shell = p.String("shell", "")
	if s, ok := p.OptString("comment"); ok {
		u.Comment = &s
	}
	if s, ok := p.OptString("password"); ok {
		u.Password = &s
	}
	u.System = p.Bool("system", false)
	u.AllowDupe = p.Bool("allowdupe", false)
	linuxDefaults(p, "useradd")
	// At their defaults these change nothing; set otherwise they stay unread and are
	// reported as not supported yet.
	for _, name := range []string{"purge_ssh_keys", "forcelocal"} {
		if v, ok := p.res.Parameters[name]; ok && isFalse(v) {
			p.Raw(name)
		}
	}
	return u
}

func buildGroup(p *Params) engine.Resource {
	g := &resources.Group{Name: p.Namevar("name")}
	g.Absent = ensureAbsent(p)
	if p.Has("gid") {
		gid := p.Int("gid", 0)
		g.GID = &gid
	}
	g.System = p.Bool("system", false)
	g.AllowDupe = p.Bool("allowdupe", false)
	linuxDefaults(p, "groupadd")
	if v, ok := p.res.Parameters["forcelocal"]; ok && isFalse(v) {
		p.Raw("forcelocal")
	}
	return g
}

// linuxDefaults accepts provider only when it names the one Debian uses.
func linuxDefaults(p *Params, provider string) {
	if s, ok := p.OptString("provider"); ok && s != provider {
		p.Unsupportedf("provider", "%s", s)
	}
}
