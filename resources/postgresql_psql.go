package resources

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// PostgresqlPSQL is puppetlabs-postgresql's postgresql_psql type with its ruby
// provider: an SQL command run through psql as the postgres user, when its unless
// query finds no row and its onlyif query finds one, or on refresh.
type PostgresqlPSQL struct {
	Command string // the SQL; Puppet's default is the title
	// Unless and Onlyif are queries; each is run as SELECT COUNT(*) FROM (query).
	Unless, Onlyif string
	Refreshonly    bool
	DB, Port       string // -d and -p when set
	SearchPath     []string
	PsqlPath       string // "psql" when empty
	PsqlUser       string // "postgres" when empty
	PsqlGroup      string // "postgres" when empty
	Cwd            string // "/tmp" when empty
	// Environment holds the connect_settings, then the environment settings, as
	// K=V; later settings win.
	Environment []string
	// Sensitive: the command is redacted from logs.
	Sensitive bool

	h engine.Handle
}

var (
	_ engine.Resource  = (*PostgresqlPSQL)(nil)
	_ engine.Refresher = (*PostgresqlPSQL)(nil)
)

// ProviderName names the module's provider.
func (p *PostgresqlPSQL) ProviderName() string { return "ruby" }

// Validate checks the environment settings as the type does.
func (p *PostgresqlPSQL) Validate() error {
	for _, s := range p.Environment {
		if !envSetting.MatchString(s) {
			return fmt.Errorf("parameter environment: Invalid environment setting '%s'", s)
		}
	}
	return nil
}

// Init keeps the handle.
func (p *PostgresqlPSQL) Init(h engine.Handle) error {
	p.h = h
	return nil
}

// Watch has nothing to watch: a database gives no events.
func (p *PostgresqlPSQL) Watch(ctx context.Context) error { return nil }

var _ engine.Unwatched = (*PostgresqlPSQL)(nil)

// Unwatched says that only evaluating it runs its unless query.
func (p *PostgresqlPSQL) Unwatched() {}

// Close does nothing.
func (p *PostgresqlPSQL) Close() error { return nil }

// CheckApply runs the unless and onlyif queries; when the command should run it is
// the change command 'notrun' -> the SQL, made by running it.
func (p *PostgresqlPSQL) CheckApply(ctx context.Context, apply bool) (bool, error) {
	run, err := p.shouldRun(ctx, false)
	if err != nil || !run {
		return !run, err
	}
	c := engine.Change{Property: "command", Previous: "notrun", Desired: p.Command,
		Message: "command changed 'notrun' to " + engine.PuppetString(p.Command)}
	if p.Sensitive {
		c.Desired, c.Message = "[redacted]", "changed [redacted] to [redacted]"
	}
	p.h.Change(c)
	if !apply {
		return false, nil
	}
	if err := p.sync(ctx); err != nil {
		return false, &engine.ChangeError{Property: "command", From: c.Previous, To: c.Desired, Err: err}
	}
	return false, nil
}

// Refresh runs the command, as the type's refresh does, when unless and onlyif
// allow it (refreshonly or not).
func (p *PostgresqlPSQL) Refresh(ctx context.Context, apply bool) error {
	if !apply {
		return nil
	}
	run, err := p.shouldRun(ctx, true)
	if err != nil || !run {
		return err
	}
	return p.sync(ctx)
}

// shouldRun is the type's should_run_sql.
func (p *PostgresqlPSQL) shouldRun(ctx context.Context, refreshing bool) (bool, error) {
	if p.Onlyif != "" {
		n, err := p.count(ctx, "onlyif", p.Onlyif)
		if err != nil || n == 0 {
			return false, err
		}
	}
	if p.Unless != "" {
		n, err := p.count(ctx, "unless", p.Unless)
		if err != nil || n > 0 {
			return false, err
		}
	}
	return refreshing || !p.Refreshonly, nil
}

// count runs query wrapped in SELECT COUNT(*) and reads the count as Ruby's to_i.
func (p *PostgresqlPSQL) count(ctx context.Context, clause, query string) (int, error) {
	r, err := p.psql(ctx, "SELECT COUNT(*) FROM ("+query+") count", true)
	if err != nil {
		return 0, err
	}
	p.ignoredStatus(r)
	n := leadingInt(strings.TrimSpace(r.output))
	p.h.Logf(engine.Debug, "Found %d row(s) executing '%s' clause", n, clause)
	return n, nil
}

func (p *PostgresqlPSQL) sync(ctx context.Context) error {
	r, err := p.psql(ctx, p.Command, false)
	if err != nil {
		return err
	}
	p.ignoredStatus(r)
	return nil
}

// ignoredStatus notes, at debug level, a psql that failed. Puppet 7's provider
// reads $CHILD_STATUS, which its execution does not set in the calling thread: it
// never sees psql fail, so an unless query that cannot connect counts 0 rows
// (psql's error read as a number) and a statement that fails is a change made. The
// corpus's postgresql case, with the server stopped, shows it; so does this.
func (p *PostgresqlPSQL) ignoredStatus(r result) {
	if r.code != 0 {
		p.h.Logf(engine.Debug, "psql returned %d (Puppet's provider does not see it): %s", r.code, strings.TrimSpace(r.output))
	}
}

// psql runs sql as the provider's run_sql_command does: the command line joined with
// spaces and run by the shell (so that $VARIABLES of the environment expand), as
// psql_user and psql_group, in cwd, with the C locale.
func (p *PostgresqlPSQL) psql(ctx context.Context, sql string, check bool) (result, error) {
	if len(p.SearchPath) > 0 {
		sql = "set search_path to " + strings.Join(p.SearchPath, ",") + "; " + sql
	}
	argv := []string{or(p.PsqlPath, "psql")}
	if p.DB != "" {
		argv = append(argv, "-d", p.DB)
	}
	if p.Port != "" {
		argv = append(argv, "-p", p.Port)
	}
	argv = append(argv, "-t", "-X", "-c", `"`+strings.ReplaceAll(sql, `"`, `\"`)+`"`)
	e := &Exec{
		Command:   strings.Join(argv, " "),
		Cwd:       or(p.Cwd, "/tmp"),
		User:      or(p.PsqlUser, "postgres"),
		Group:     or(p.PsqlGroup, "postgres"),
		Provider:  "shell",
		Sensitive: p.Sensitive,
		// override_locale: Puppet runs it in the C locale.
		Environment: append([]string{"LANG=C", "LC_ALL=C", "LC_MESSAGES=C", "LANGUAGE=C"}, p.Environment...),
		h:           p.h,
	}
	return e.run(ctx, e.Command, check)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// leadingInt is Ruby's String#to_i: the leading decimal number, or 0.
func leadingInt(s string) int {
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	if err != nil {
		return 0
	}
	return n
}
