package resources

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// fakeValidatorPsql writes a psql that logs its arguments and environment to log
// and, from its answer-th call on, prints a row; before that it fails as psql does
// when the server is down: a message on stderr, exit 2. answer 0 never answers.
func fakeValidatorPsql(t *testing.T, answer int) (psql, log string) {
	t.Helper()
	dir := t.TempDir()
	psql, log = filepath.Join(dir, "psql"), filepath.Join(dir, "log")
	script := `#!/bin/sh
echo "args: $* | pw=$PGPASSWORD opt=$PGOPTIONS lang=$LC_ALL" >>` + log + `
n=$(wc -l <` + log + `)
if [ ` + strconv.Itoa(answer) + ` -gt 0 ] && [ "$n" -ge ` + strconv.Itoa(answer) + ` ]; then
	echo "        1"; echo; exit 0
fi
echo 'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory' >&2
exit 2
`
	if err := os.WriteFile(psql, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return psql, log
}

func TestPostgresqlConnValidator(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	const down = "Warning: PostgresqlValidator.attempt_connection: Sleeping for 1 seconds"
	for _, tc := range []struct {
		name   string
		res    PostgresqlConnValidator
		answer int  // the call from which psql answers; 0 never
		apply  bool // else noop
		inSync bool
		err    string   // the whole error, when it fails
		ran    []string // the command lines psql got, in order
		warned int      // "Sleeping" warnings
	}{
		{name: "answers", res: PostgresqlConnValidator{DBName: "postgres", Port: "5432", Tries: 60},
			answer: 1, apply: true, inSync: true,
			ran: []string{"args: --tuples-only --quiet --no-psqlrc --port 5432 --dbname postgres --command SELECT 1 | pw= opt= lang=C"}},
		{name: "answers on the third try", res: PostgresqlConnValidator{Tries: 5},
			answer: 3, apply: true, inSync: true, warned: 2,
			ran: []string{"--command SELECT 1 |", "--command SELECT 1 |", "--command SELECT 1 |"}},
		{name: "never answers", res: PostgresqlConnValidator{Port: "5432", Tries: 3},
			apply: true, err: "change from 'absent' to 'present' failed: Unable to connect to PostgreSQL server! (:5432)", warned: 3,
			ran: []string{"SELECT 1", "SELECT 1", "SELECT 1"}},
		{name: "never answers, noop", res: PostgresqlConnValidator{Host: "db1", Tries: 2},
			warned: 2, ran: []string{"--host db1 --command SELECT 1", "--host db1 --command SELECT 1"}},
		{name: "every parameter", res: PostgresqlConnValidator{Host: "127.0.0.1", Port: "5433", DBUsername: "app", DBName: "appdb",
			DBPassword: "s3cret", Command: "SELECT now()", ConnectSettings: []string{"PGOPTIONS=-cx=1", "PGPASSWORD=old"}, Tries: 1},
			answer: 1, apply: true, inSync: true,
			ran: []string{"args: --tuples-only --quiet --no-psqlrc --host 127.0.0.1 --port 5433 --username app --dbname appdb --command SELECT now() | pw=s3cret opt=-cx=1 lang=C"}},
		{name: "no tries", res: PostgresqlConnValidator{Port: "5432"}, answer: 1, apply: true,
			err: "change from 'absent' to 'present' failed: Unable to connect to PostgreSQL server! (:5432)"},
		// Puppet's child cannot become the user: every try fails, with its warning.
		{name: "no such user", res: PostgresqlConnValidator{Port: "5432", Tries: 2, RunAs: "no-such-user-here"}, answer: 1, apply: true,
			err: "change from 'absent' to 'present' failed: Unable to connect to PostgreSQL server! (:5432)", warned: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			psql, log := fakeValidatorPsql(t, tc.answer)
			r := tc.res
			r.PsqlPath, r.Sleep = psql, time.Second
			if r.RunAs == "" {
				r.RunAs = me.Username
			}
			if r.Command == "" {
				r.Command = "SELECT 1"
			}
			var slept []time.Duration
			r.sleep = func(ctx context.Context, d time.Duration) error {
				slept = append(slept, d)
				return nil
			}
			h := newFileHandle()
			if err := r.Init(h); err != nil {
				t.Fatal(err)
			}
			inSync, err := r.CheckApply(context.Background(), tc.apply)
			switch {
			case tc.err != "" && (err == nil || err.Error() != tc.err):
				t.Fatalf("error %v, want %q", err, tc.err)
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err == "" && inSync != tc.inSync:
				t.Errorf("in sync %v, want %v", inSync, tc.inSync)
			}
			var ce *engine.ChangeError
			if tc.err != "" && (!errors.As(err, &ce) || ce.Err.Error() != strings.TrimPrefix(tc.err, "change from 'absent' to 'present' failed: ")) {
				t.Errorf("error %#v, want a ChangeError of ensure", err)
			}
			changes := h.take()
			if tc.inSync && len(changes) > 0 || !tc.inSync && (len(changes) != 1 || changes[0].Property != "ensure" ||
				changes[0].Previous != "absent" || changes[0].Desired != "present") {
				t.Errorf("changes %+v, in sync %v", changes, tc.inSync)
			}
			warned := 0
			for _, l := range h.logs {
				if l == down {
					warned++
				}
			}
			if warned != tc.warned || len(slept) != tc.warned {
				t.Errorf("%d warnings and %d sleeps, want %d; logs:\n%s", warned, len(slept), tc.warned, strings.Join(h.logs, "\n"))
			}
			got, _ := os.ReadFile(log)
			lines := splitLines(string(got))
			if len(lines) != len(tc.ran) {
				t.Fatalf("psql ran %d times, want %d:\n%s", len(lines), len(tc.ran), got)
			}
			for i, want := range tc.ran {
				if !strings.Contains(lines[i], want) {
					t.Errorf("psql's run %d: %q, want a part %q", i+1, lines[i], want)
				}
			}
			if r.DBPassword != "" {
				for _, l := range h.logs {
					if strings.Contains(l, r.DBPassword) {
						t.Errorf("the password is logged: %s", l)
					}
				}
			}
		})
	}
}

// A validator waiting for a server ends when the run is stopped.
func TestPostgresqlConnValidatorStops(t *testing.T) {
	psql, _ := fakeValidatorPsql(t, 0)
	r := PostgresqlConnValidator{PsqlPath: psql, Command: "SELECT 1", Tries: 60, Sleep: time.Minute}
	h := newFileHandle()
	if err := r.Init(h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := r.CheckApply(ctx, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the context's", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopped after %v", d)
	}
}
