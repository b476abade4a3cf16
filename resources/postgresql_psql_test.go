package resources

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// fakePsql writes a psql that logs its arguments and environment to log, answers
// queries starting with SELECT COUNT(*) with count, and fails on SQL holding "BROKEN".
func fakePsql(t *testing.T, count string) (psql, log string) {
	t.Helper()
	dir := t.TempDir()
	psql, log = filepath.Join(dir, "psql"), filepath.Join(dir, "log")
	script := `#!/bin/sh
sql=""
for a in "$@"; do sql="$a"; done
echo "args: $* | pw=$NEWPGPASSWD lang=$LC_ALL cwd=$(pwd)" >>` + log + `
case "$sql" in
*BROKEN*) echo 'ERROR:  syntax error at or near "BROKEN"'; exit 1 ;;
*"SELECT COUNT(*)"*) echo "     ` + count + `"; echo ;;
esac
`
	if err := os.WriteFile(psql, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return psql, log
}

func TestPostgresqlPSQL(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	group, err := user.LookupGroupId(me.Gid)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		res     PostgresqlPSQL
		count   string
		inSync  bool
		change  string // the message, when out of sync
		err     string // a prefix of the error, when it fails
		ran     string // a part of the command line that must have run
		refresh bool   // Refresh instead of CheckApply
	}{
		{name: "unless finds a row", res: PostgresqlPSQL{Command: "CREATE ROLE x", Unless: "SELECT 1"}, count: "1", inSync: true},
		{name: "unless finds none", res: PostgresqlPSQL{Command: "CREATE ROLE x", Unless: "SELECT 1", DB: "postgres", Port: "5432"}, count: "0",
			change: "command changed 'notrun' to 'CREATE ROLE x'", ran: `-d postgres -p 5432 -t -X -c CREATE ROLE x`},
		{name: "onlyif finds none", res: PostgresqlPSQL{Command: "DROP ROLE x", Onlyif: "SELECT 1"}, count: "0", inSync: true},
		{name: "refreshonly", res: PostgresqlPSQL{Command: "ANALYZE", Refreshonly: true}, inSync: true},
		{name: "refreshonly refreshed", res: PostgresqlPSQL{Command: "ANALYZE", Refreshonly: true}, refresh: true, ran: "-c ANALYZE"},
		{name: "environment expands", res: PostgresqlPSQL{Command: `CREATE ROLE "r" PASSWORD '$NEWPGPASSWD'`, Environment: []string{"NEWPGPASSWD=md5abc"}},
			change: `command changed 'notrun' to 'CREATE ROLE "r" PASSWORD \'$NEWPGPASSWD\''`, ran: `CREATE ROLE "r" PASSWORD 'md5abc' | pw=md5abc lang=C`},
		{name: "search path", res: PostgresqlPSQL{Command: "SELECT f()", SearchPath: []string{"a", "b"}},
			change: "command changed 'notrun' to 'SELECT f()'", ran: "set search_path to a,b; SELECT f()"},
		{name: "sensitive", res: PostgresqlPSQL{Command: "ALTER ROLE x PASSWORD 'secret'", Sensitive: true}, change: "changed [redacted] to [redacted]"},
		// Puppet 7's provider never sees psql fail (see ignoredStatus).
		{name: "command fails", res: PostgresqlPSQL{Command: "BROKEN"}, change: "command changed 'notrun' to 'BROKEN'", ran: "-c BROKEN"},
		{name: "unless fails: no row", res: PostgresqlPSQL{Command: "x", Unless: "BROKEN"}, change: "command changed 'notrun' to 'x'", ran: "-c x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			psql, log := fakePsql(t, tc.count)
			r := tc.res
			r.PsqlPath, r.PsqlUser, r.PsqlGroup, r.Cwd = psql, me.Username, group.Name, filepath.Dir(psql)
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			h := newFileHandle()
			if err := r.Init(h); err != nil {
				t.Fatal(err)
			}
			var inSync bool
			if tc.refresh {
				err = r.Refresh(context.Background(), true)
			} else {
				inSync, err = r.CheckApply(context.Background(), true)
			}
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("error %v, want one starting %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !tc.refresh && tc.err == "" && inSync != tc.inSync {
				t.Errorf("in sync %v, want %v", inSync, tc.inSync)
			}
			changes := h.take()
			switch {
			case tc.change == "" && len(changes) > 0:
				t.Errorf("changes %+v, want none", changes)
			case tc.change != "" && (len(changes) != 1 || changes[0].Message != tc.change):
				t.Errorf("changes %+v, want %q", changes, tc.change)
			}
			got, _ := os.ReadFile(log)
			if tc.ran != "" && !strings.Contains(string(got), tc.ran) {
				t.Errorf("psql ran:\n%s\nwant a line with %q", got, tc.ran)
			}
			if tc.inSync && strings.Count(string(got), "\n") != strings.Count(string(got), "SELECT COUNT(*)") {
				t.Errorf("in sync, but the command ran:\n%s", got)
			}
		})
	}
}
