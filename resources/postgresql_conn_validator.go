package resources

import (
	"context"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// PostgresqlConnValidator is puppetlabs-postgresql's postgresql_conn_validator type
// with its ruby provider (lib/puppet/util/postgresql_validator.rb): in sync when
// psql, run as RunAs, prints anything for Command; else it tries again, Tries times
// in all with Sleep between, and then fails ("Unable to connect to PostgreSQL
// server!"). It changes nothing: it holds back what comes after it until the server
// answers.
type PostgresqlConnValidator struct {
	DBName, DBUsername, DBPassword string // --dbname, --username, PGPASSWORD when set
	Host, Port                     string // --host, --port when set
	// ConnectSettings are K=V settings put before the command, as the provider does
	// (unquoted: the shell reads them).
	ConnectSettings []string
	Sleep           time.Duration // between tries; the type's default is 2 s
	Tries           int           // the type's default is 10
	PsqlPath        string        // as given: the provider runs "" psql as ""
	RunAs           string        // the user; its primary group; empty: ours
	Command         string        // the type's default is "SELECT 1"
	// Sensitive: the command is redacted from the debug lines, as it is whenever
	// it holds a password (Puppet's provider logs it with the password).
	Sensitive bool

	h     engine.Handle
	sleep func(context.Context, time.Duration) error // time.Sleep that ends with ctx; tests replace it
}

var _ engine.Resource = (*PostgresqlConnValidator)(nil)

// ProviderName names the module's provider.
func (v *PostgresqlConnValidator) ProviderName() string { return "ruby" }

// Validate has nothing to check that the translation has not.
func (v *PostgresqlConnValidator) Validate() error { return nil }

// Init keeps the handle.
func (v *PostgresqlConnValidator) Init(h engine.Handle) error {
	v.h = h
	return nil
}

// Watch has nothing to watch: a server gives no events.
func (v *PostgresqlConnValidator) Watch(ctx context.Context) error { return nil }

var _ engine.Unwatched = (*PostgresqlConnValidator)(nil)

// Unwatched says that only evaluating it connects.
func (v *PostgresqlConnValidator) Unwatched() {}

// Close does nothing.
func (v *PostgresqlConnValidator) Close() error { return nil }

// CheckApply is ensure's retrieve (exists?, which tries to connect) and, when that
// fails, create, which raises.
func (v *PostgresqlConnValidator) CheckApply(ctx context.Context, apply bool) (bool, error) {
	ok, err := v.attempt(ctx)
	if err != nil || ok {
		return ok, err
	}
	c := engine.Change{Property: "ensure", Previous: "absent", Desired: "present", Message: "created"}
	v.h.Change(c)
	if !apply {
		return false, nil
	}
	return false, &engine.ChangeError{Property: c.Property, From: c.Previous, To: c.Desired,
		Err: validatorError("Unable to connect to PostgreSQL server! (" + v.Host + ":" + v.Port + ")")}
}

// validatorError is the provider's Puppet::Error.
type validatorError string

func (e validatorError) Error() string { return string(e) }

// attempt is the provider's attempt_connection: a try that prints anything
// succeeds; after every other one it warns and sleeps, the last one too.
func (v *PostgresqlConnValidator) attempt(ctx context.Context) (bool, error) {
	sleep := v.sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	cmd := v.command()
	e := &Exec{
		Command: cmd,
		User:    v.RunAs,
		// override_locale: Puppet runs it in the C locale.
		Environment: []string{"LANG=C", "LC_ALL=C", "LC_MESSAGES=C", "LANGUAGE=C"},
		Provider:    "posix",
		Sensitive:   v.Sensitive || strings.Contains(cmd, "PGPASSWORD="),
		execute:     true,
		h:           v.h,
	}
	for i := 0; i < v.Tries; i++ {
		v.h.Logf(engine.Debug, "PostgresqlValidator.attempt_connection: Attempting connection to %s", v.DBName)
		r, err := e.run(ctx, cmd, true)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err != nil {
			// Puppet's execute forks before it changes the user: a child that
			// cannot (no such user) exits 1 with nothing on stdout, which is one
			// more try that failed (checked against puppet apply).
			v.h.Logf(engine.Debug, "PostgresqlValidator.attempt_connection: %v", err)
		}
		if err == nil && r.output != "" {
			v.h.Logf(engine.Debug, "PostgresqlValidator.attempt_connection: Connection to %s successful!", v.DBName)
			return true, nil
		}
		v.h.Printf(engine.Warning, "PostgresqlValidator.attempt_connection: Sleeping for %d seconds", int(v.Sleep/time.Second))
		if err := sleep(ctx, v.Sleep); err != nil {
			return false, err
		}
	}
	return false, nil
}

// command is the provider's build_validate_cmd: the connect settings (and
// PGPASSWORD), then psql with the parameters that are set, and a trailing space.
func (v *PostgresqlConnValidator) command() string {
	settings := append([]string{}, v.ConnectSettings...)
	if v.DBPassword != "" {
		settings = setEnv(settings, "PGPASSWORD", v.DBPassword)
	}
	parts := []string{v.PsqlPath + " --tuples-only --quiet --no-psqlrc"}
	for _, p := range []struct{ flag, value string }{
		{"--host", v.Host}, {"--port", v.Port}, {"--username", v.DBUsername}, {"--dbname", v.DBName},
	} {
		if p.value != "" {
			parts = append(parts, p.flag+" "+p.value)
		}
	}
	parts = append(parts, "--command '"+v.Command+"'")
	return strings.Join(settings, " ") + " " + strings.Join(parts, " ") + " "
}

// setEnv sets key in K=V settings as a Ruby hash does: in its place when there,
// else last.
func setEnv(settings []string, key, value string) []string {
	for i, s := range settings {
		if k, _, _ := strings.Cut(s, "="); k == key {
			settings[i] = key + "=" + value
			return settings
		}
	}
	return append(settings, key+"="+value)
}
