package translate

import (
	"sort"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// Postgresql_psql of puppetlabs-postgresql (lib/puppet/type/postgresql_psql.rb).
func init() {
	register("Postgresql_psql", Native{
		Namevar:    "name",
		Build:      buildPostgresqlPSQL,
		Redactable: []string{"command"},
		// The type's autorequire(:class) of Postgresql::Server::Service makes no
		// edge in Puppet 7: Type#autorelation skips kinds that are not types.
	})
}

func buildPostgresqlPSQL(p *Params) engine.Resource {
	r := &resources.PostgresqlPSQL{
		Command:     p.String("command", p.Namevar("name")),
		Unless:      p.String("unless", ""),
		Onlyif:      p.String("onlyif", ""),
		Refreshonly: p.Bool("refreshonly", false),
		DB:          p.String("db", ""),
		Port:        p.String("port", ""),
		SearchPath:  p.Strings("search_path"),
		PsqlPath:    p.String("psql_path", "psql"),
		PsqlUser:    p.String("psql_user", "postgres"),
		PsqlGroup:   p.String("psql_group", "postgres"),
		Cwd:         p.String("cwd", "/tmp"),
		Sensitive:   p.Sensitive("command"),
	}
	if v, ok := p.Raw("connect_settings"); ok {
		settings, isHash := v.(map[string]any)
		if !isHash {
			p.Errorf("connect_settings", "want a hash, got %s", describe(v))
		}
		keys := make([]string, 0, len(settings))
		for k := range settings {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s, ok := scalarString(settings[k])
			if !ok {
				p.Errorf("connect_settings", "%s: want a string, got %s", k, describe(settings[k]))
				continue
			}
			r.Environment = append(r.Environment, k+"="+s)
		}
	}
	r.Environment = append(r.Environment, p.Strings("environment")...)
	return r
}
