package translate

import (
	"encoding/json"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// cron_core's cron, with its crontab provider: one job of a user's crontab. A
// cron autorequires its user when the catalog manages it.
func init() {
	register("Cron", Native{
		Namevar: "name",
		Build:   buildCron,
		// The crontab provider needs the crontab command (package cron): without
		// it Puppet fails the resources as it does, so Puppet runs them.
		Suitable: func() bool { _, ok := resources.CommandInPath("crontab"); return ok },
		Autorequire: func(p *Params) [][]Ref {
			if u, ok := p.OptString("user"); ok {
				return [][]Ref{{{"User", u}}}
			}
			return nil
		},
		Redactable: append([]string{"ensure", "user", "target"}, cronProperties...),
	})
}

// cronProperties are the properties a cron job's logs may show.
var cronProperties = []string{"command", "special", "minute", "hour", "weekday", "month", "monthday", "environment"}

func buildCron(p *Params) engine.Resource {
	c := &resources.Cron{Name: p.Namevar("name")}
	c.Absent = ensureAbsent(p)
	u, hasUser := p.OptString("user")
	target, hasTarget := p.OptString("target")
	switch {
	case hasTarget:
		c.User = target
		if hasUser && u != target {
			p.Unsupportedf("target", "%q differing from user %q", target, u)
		}
	case hasUser:
		c.User = u
	default:
		c.User = runningUser()
	}
	if s, ok := p.OptString("command"); ok {
		s = strings.Trim(s, " \t\n\v\f\r\x00") // Ruby's strip
		c.Command = &s
	}
	if s, ok := p.OptString("special"); ok {
		if err := resources.ValidCronSpecial(s); err != nil {
			p.Errorf("special", "%v", err)
		} else {
			if s == "absent" {
				s = ""
			}
			c.Special = &s
		}
	}
	fields := map[string]**[]string{"minute": &c.Minute, "hour": &c.Hour, "monthday": &c.Monthday,
		"month": &c.Month, "weekday": &c.Weekday}
	for _, name := range resources.CronTimeFields {
		if vs, ok := cronValues(p, name); ok {
			list, err := resources.MungeCronFieldList(name, vs)
			if err != nil {
				p.Errorf(name, "%v", err)
				continue
			}
			*fields[name] = &list
		}
	}
	if c.Special != nil && *c.Special != "" {
		for _, name := range []string{"minute", "hour", "weekday", "monthday", "month"} {
			if t := *fields[name]; t != nil && len(*t) > 0 {
				p.Errorf("special", "cannot specify both a special schedule and a value for %s", name)
				break
			}
		}
	}
	if p.Has("environment") {
		env := []string{}
		for _, e := range p.Strings("environment") {
			if err := resources.ValidCronEnvironment(e); err != nil {
				p.Errorf("environment", "%v", err)
				continue
			}
			if e != "absent" {
				env = append(env, e)
			}
		}
		c.Environment = &env
	}
	if s, ok := p.OptString("provider"); ok && s != "crontab" {
		p.Unsupportedf("provider", "%s", s)
	}
	for _, name := range cronProperties {
		if p.Sensitive(name) {
			if c.Sensitive == nil {
				c.Sensitive = map[string]bool{}
			}
			c.Sensitive[name] = true
		}
	}
	return c
}

// cronValues reads a time field's values, a list flattened as Puppet does,
// noting which were numbers; ok is false when the field is unset.
func cronValues(p *Params, name string) ([]resources.CronValue, bool) {
	v, ok := p.Raw(name)
	if !ok {
		return nil, false
	}
	var out []resources.CronValue
	var walk func(v any) bool
	walk = func(v any) bool {
		if s, ok := v.(catalog.Sensitive); ok {
			v = s.Value
		}
		if list, ok := v.([]any); ok {
			for _, e := range list {
				if !walk(e) {
					return false
				}
			}
			return true
		}
		s, ok := scalarString(v)
		if !ok {
			p.Errorf(name, "want a string, a number or a list of them, got %s", describe(v))
			return false
		}
		switch v.(type) {
		case json.Number, int, int64, float64:
			out = append(out, resources.CronValue{Text: s, Number: true})
		default:
			out = append(out, resources.CronValue{Text: s})
		}
		return true
	}
	if !walk(v) {
		return nil, false
	}
	return out, true
}

// runningUser is the name of the user running, the default crontab (Puppet's
// Etc.getpwuid(Process.uid)), root when it has none.
func runningUser() string {
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil && u.Username != "" {
		return u.Username
	}
	return "root"
}
