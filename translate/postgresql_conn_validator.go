package translate

import (
	"strconv"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// Postgresql_conn_validator of puppetlabs-postgresql
// (lib/puppet/type/postgresql_conn_validator.rb, its ruby provider).
func init() {
	register("Postgresql_conn_validator", Native{
		Namevar:    "name",
		Build:      buildPostgresqlConnValidator,
		Redactable: []string{"ensure"},
	})
}

func buildPostgresqlConnValidator(p *Params) engine.Resource {
	switch s := p.Enum("ensure", "present", "present", "absent"); s {
	case "absent":
		// The provider has no destroy: Puppet fails it when the server answers.
		p.Unsupportedf("ensure", "%s", s)
	}
	if s := p.String("provider", "ruby"); s != "ruby" {
		p.Unsupportedf("provider", "%s", s)
	}
	v := &resources.PostgresqlConnValidator{
		DBName:     p.String("db_name", ""),
		DBUsername: p.String("db_username", ""),
		DBPassword: p.String("db_password", ""),
		Host:       p.String("host", ""),
		Sleep:      time.Duration(p.RubyInt("sleep", 2)) * time.Second,
		Tries:      p.RubyInt("tries", 10),
		PsqlPath:   p.String("psql_path", ""),
		RunAs:      p.String("run_as", ""),
		Command:    p.String("command", "SELECT 1"),
		Sensitive:  p.Sensitive("db_password"),
	}
	if p.Has("port") {
		// The type munges it with Integer(), as sleep and tries.
		errs := len(p.Errs())
		if n := p.RubyInt("port", 0); len(p.Errs()) == errs {
			v.Port = strconv.Itoa(n)
		}
	}
	v.ConnectSettings = p.Settings("connect_settings")
	return v
}
