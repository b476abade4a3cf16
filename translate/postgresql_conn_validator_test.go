package translate

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// TestPostgresqlConnValidatorTranslate: the type's defaults, its Integer() munging
// of port, sleep and tries, and what goes to Puppet.
func TestPostgresqlConnValidatorTranslate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   resources.PostgresqlConnValidator
		errs   []string
	}{
		{"defaults", nil, resources.PostgresqlConnValidator{Sleep: 2 * time.Second, Tries: 10, Command: "SELECT 1"}, nil},
		{"module's service.pp", map[string]any{"run_as": "postgres", "db_name": "postgres", "port": json.Number("5432"),
			"connect_settings": map[string]any{}, "sleep": json.Number("1"), "tries": json.Number("60"), "psql_path": "/usr/bin/psql"},
			resources.PostgresqlConnValidator{RunAs: "postgres", DBName: "postgres", Port: "5432", Sleep: time.Second, Tries: 60,
				PsqlPath: "/usr/bin/psql", Command: "SELECT 1"}, nil},
		{"Integer()", map[string]any{"port": "05432", "sleep": json.Number("1.9"), "tries": "0x10"},
			resources.PostgresqlConnValidator{Port: "2842", Sleep: time.Second, Tries: 16, Command: "SELECT 1"}, nil},
		{"connect settings", map[string]any{"connect_settings": map[string]any{"PGUSER": "app", "PGHOST": "db1"}, "db_password": "pw"},
			resources.PostgresqlConnValidator{ConnectSettings: []string{"PGHOST=db1", "PGUSER=app"}, DBPassword: "pw",
				Sleep: 2 * time.Second, Tries: 10, Command: "SELECT 1"}, nil},
		{"bad port", map[string]any{"port": "pg"}, resources.PostgresqlConnValidator{Sleep: 2 * time.Second, Tries: 10, Command: "SELECT 1"},
			[]string{`Postgresql_conn_validator[v]: parameter port: invalid value for Integer(): "pg"`}},
		{"absent", map[string]any{"ensure": "absent"}, resources.PostgresqlConnValidator{Sleep: 2 * time.Second, Tries: 10, Command: "SELECT 1"},
			[]string{"Postgresql_conn_validator[v]: parameter ensure: absent is not supported yet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, p := buildNative(t, "Postgresql_conn_validator", "v", tc.params)
			if got := errStrings(p); !reflect.DeepEqual(got, tc.errs) {
				t.Errorf("errors\n%q\nwant\n%q", got, tc.errs)
			}
			if got := *res.(*resources.PostgresqlConnValidator); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
