package translate

import (
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
	r.Environment = append(p.Settings("connect_settings"), p.Strings("environment")...)
	return r
}
