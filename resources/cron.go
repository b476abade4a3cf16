package resources

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Cron is cron_core's cron type with the crontab provider: one job of a user's
// crontab, read with `crontab -u USER -l` and written back whole with
// `crontab -u USER -`, as Puppet's crontab filetype does. The job is found by its
// "# Puppet Name:" comment, or, without one, by its command and schedule; every
// other line of the crontab stays where it was. Crons of one user take turns,
// and each re-reads the crontab before it writes it.
type Cron struct {
	Name   string
	Absent bool
	// User owns the crontab (Puppet's target, which defaults to user, then to
	// the user running).
	User string
	// The properties; nil is unmanaged.
	Command *string
	Special *string // "" is absent (a numeric schedule)
	// The time fields as MungeCronFieldList leaves them; an empty list is
	// absent, which the crontab prints as '*'.
	Minute, Hour, Monthday, Month, Weekday *[]string
	// Environment lines (NAME=VALUE) written above the job; an empty list is
	// none (Puppet's absent).
	Environment *[]string
	// Sensitive names the properties whose values logs must not show.
	Sensitive map[string]bool
	// SpoolDir is where crontab keeps the crontabs, watched for changes; ""
	// is Debian's /var/spool/cron/crontabs.
	SpoolDir string

	tab crontabs // nil is the real crontab command
	h   engine.Handle
	pathWatch
}

var (
	_ engine.Resource = (*Cron)(nil)
	_ engine.Locker   = (*Cron)(nil)
)

// DefaultCronSpool is where Debian's crontab keeps users' crontabs.
const DefaultCronSpool = "/var/spool/cron/crontabs"

// crontabs reads and replaces users' crontabs.
type crontabs interface {
	read(ctx context.Context, user string) (string, error)
	write(ctx context.Context, user, text string) error
}

// Validate checks what Puppet's type checks, on values already munged, and what
// would break the crontab's lines.
func (c *Cron) Validate() error {
	var errs []error
	bad := func(param, format string, args ...any) {
		errs = append(errs, fmt.Errorf("parameter %s: %s", param, fmt.Sprintf(format, args...)))
	}
	if strings.Contains(c.Name, "\n") {
		bad("name", "a cron job's name cannot hold a newline")
	}
	if c.User == "" || strings.ContainsAny(c.User, "/ \t\n") {
		bad("target", "invalid crontab user %s", cronInspect(c.User))
	}
	if c.Command != nil && strings.Contains(*c.Command, "\n") {
		bad("command", "a cron command cannot hold a newline")
	}
	if c.Special != nil && *c.Special != "" {
		if err := ValidCronSpecial(*c.Special); err != nil {
			bad("special", "%v", err)
		}
	}
	times := c.times()
	for i, t := range times {
		if t == nil {
			continue
		}
		for j, v := range *t {
			if j > 0 && v == "absent" {
				continue
			}
			if _, absent, err := MungeCronField(CronTimeFields[i], CronValue{Text: v}); err != nil || absent {
				bad(CronTimeFields[i], "invalid value %s", cronInspect(v))
			}
		}
	}
	if c.Special != nil && *c.Special != "" {
		// Puppet's own order: minute, hour, weekday, monthday, month.
		for _, i := range []int{0, 1, 4, 2, 3} {
			if t := times[i]; t != nil && len(*t) > 0 {
				bad("special", "cannot specify both a special schedule and a value for %s", CronTimeFields[i])
				break
			}
		}
	}
	if c.Environment != nil {
		for _, e := range *c.Environment {
			if err := ValidCronEnvironment(e); err != nil || strings.Contains(e, "\n") {
				bad("environment", "Invalid environment setting %s", cronInspect(e))
			}
		}
	}
	return errors.Join(errs...)
}

// times are the time fields in the order of CronTimeFields.
func (c *Cron) times() [5]*[]string {
	return [5]*[]string{c.Minute, c.Hour, c.Monthday, c.Month, c.Weekday}
}

// ProviderName names the provider, as reports do.
func (c *Cron) ProviderName() string { return "crontab" }

// Locks makes the crons of one user take turns, in catalog order among those
// ready together, so that new jobs land in the order Puppet appends them.
func (c *Cron) Locks() []string { return []string{"cron:" + c.User} }

// Init keeps the handle.
func (c *Cron) Init(h engine.Handle) error {
	c.h = h
	return nil
}

// Watch watches the user's crontab in the spool directory: crontab replaces the
// file (a new one renamed over it) and crontab -r removes it, which the watch on
// its directory sees.
func (c *Cron) Watch(ctx context.Context) error {
	return c.watch(ctx, filepath.Join(c.spool(), c.User), c.h.Poke)
}

// Close ends the watch.
func (c *Cron) Close() error {
	c.close()
	return nil
}

// cronUserLocks holds one mutex per user, so that two crons of one crontab never
// read and write it at the same time, whoever runs them.
var cronUserLocks sync.Map // user → *sync.Mutex

func lockCronUser(user string) func() {
	m, _ := cronUserLocks.LoadOrStore(user, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (c *Cron) crontab() crontabs {
	if c.tab != nil {
		return c.tab
	}
	return systemCrontab{spool: c.spool()}
}

func (c *Cron) spool() string {
	if c.SpoolDir == "" {
		return DefaultCronSpool
	}
	return c.SpoolDir
}

// CheckApply reads the user's crontab, finds the job and, with apply, writes the
// crontab back with the job created, removed or changed.
func (c *Cron) CheckApply(ctx context.Context, apply bool) (bool, error) {
	defer lockCronUser(c.User)()
	text, err := c.crontab().read(ctx, c.User)
	if err != nil {
		return false, err
	}
	recs, err := parseCrontab(text)
	if err != nil {
		return false, fmt.Errorf("Could not read crontab for %s: %w", c.User, err)
	}
	i := findCronJob(recs, c.want())
	switch {
	case c.Absent && i < 0:
		return true, nil
	case c.Absent:
		c.h.Change(cronEnsureChange(false, apply))
		if !apply {
			return false, nil
		}
		return false, c.write(ctx, text, slices.Delete(recs, i, i+1))
	case i < 0:
		c.h.Change(cronEnsureChange(true, apply))
		if !apply {
			return false, nil
		}
		if c.Command == nil {
			// Puppet says so and writes the crontab without the job.
			c.h.Logf(engine.Err, "no command specified, cannot create")
			return false, c.write(ctx, text, recs)
		}
		return false, c.write(ctx, text, append(recs, c.newJob()))
	}
	changes := c.sync(&recs[i], apply)
	for _, ch := range changes {
		c.h.Change(ch)
	}
	if len(changes) == 0 {
		return true, nil
	}
	if !apply {
		return false, nil
	}
	return false, c.write(ctx, text, recs)
}

func (c *Cron) want() cronWant {
	return cronWant{name: c.Name, command: c.Command, special: c.Special, time: c.times()}
}

// newJob is the job Puppet creates: every managed property, unmanaged fields
// absent.
func (c *Cron) newJob() cronRecord {
	r := cronRecord{kind: cronJob, name: c.Name}
	if c.Command != nil {
		r.command = *c.Command
	}
	if c.Special != nil {
		r.special = *c.Special
	}
	for i, t := range c.times() {
		if t != nil && len(*t) > 0 {
			r.time[i], r.timeSet[i] = slices.Clone(*t), true
		}
	}
	if c.Environment != nil && len(*c.Environment) > 0 {
		r.env = slices.Clone(*c.Environment)
	}
	return r
}

// sync compares each managed property of job with its wanted value, in Puppet's
// order, sets those that differ and returns their changes.
func (c *Cron) sync(job *cronRecord, apply bool) []engine.Change {
	var out []engine.Change
	add := func(name string, is, should cronShown) {
		out = append(out, cronChange(name, is, should, c.Sensitive[name], apply))
	}
	fieldIndex := map[string]int{}
	for i, f := range CronTimeFields {
		fieldIndex[f] = i
	}
	times := c.times()
	for _, prop := range cronPropertyOrder {
		switch prop {
		case "command":
			if c.Command != nil && job.command != *c.Command {
				add(prop, cronStr(job.command), cronStr(*c.Command))
				job.command = *c.Command
			}
		case "special":
			if c.Special != nil && job.special != *c.Special {
				add(prop, cronSpecialShown(job.special), cronSpecialShown(*c.Special))
				job.special = *c.Special
			}
		case "environment":
			if c.Environment == nil {
				continue
			}
			want := *c.Environment
			switch {
			case job.env == nil && len(want) == 0:
			case job.env != nil && equalStrings(sortedCopy(job.env), sortedCopy(want)):
			default:
				is := cronShown{text: "'absent'", raw: "absent", absent: true}
				if job.env != nil {
					is = cronList(job.env)
				}
				should := cronShown{text: "absent", raw: "absent"}
				if len(want) > 0 {
					should = cronShown{text: strings.Join(want, ","), raw: strings.Join(want, ",")}
				}
				add(prop, is, should)
				job.env = nil
				if len(want) > 0 {
					job.env = slices.Clone(want)
				}
				// Puppet writes the environment of a job it took over by its
				// command and schedule without a name comment, so that next time
				// the lines are not the job's and are written again, one more set
				// each run. Named, the job keeps them.
				job.unmanaged = false
				job.name = c.Name
			}
		default:
			i := fieldIndex[prop]
			t := times[i]
			if t == nil {
				continue
			}
			wantSet := len(*t) > 0
			if job.timeSet[i] == wantSet && (!wantSet || equalStrings(job.time[i], *t)) {
				continue
			}
			is, should := cronAbsent(), cronAbsent()
			if job.timeSet[i] {
				is = cronList(job.time[i])
			}
			if wantSet {
				should = cronList(*t)
			}
			should.undefines = !wantSet
			add(prop, is, should)
			job.time[i], job.timeSet[i] = slices.Clone(*t), wantSet
		}
	}
	return out
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// write replaces the user's crontab, read as old, with recs; not when only
// Puppet's header would change (a change that changes nothing, as a time field
// of a job whose special wins), so that such a job does not rewrite the crontab
// at every event its own write would cause.
func (c *Cron) write(ctx context.Context, old string, recs []cronRecord) error {
	text := renderCrontab(recs, time.Now())
	if cronHeaderLine.ReplaceAllString(text, "") == cronHeaderLine.ReplaceAllString(old, "") {
		return nil
	}
	return c.crontab().write(ctx, c.User, text)
}

// cronShown is a property value: raw is what the report records, text how the
// messages print it (Puppet's is_to_s and should_to_s).
type cronShown struct {
	raw, text string
	absent    bool // the value found is absent: Puppet says "defined"
	undefines bool // the value wanted is absent: Puppet says "undefined"
}

func cronStr(s string) cronShown { return cronShown{raw: s, text: cronQuote(s)} }

func cronAbsent() cronShown { return cronShown{raw: "absent", text: "'absent'", absent: true} }

func cronSpecialShown(s string) cronShown {
	if s == "" {
		sh := cronAbsent()
		sh.undefines = true
		return sh
	}
	return cronStr(s)
}

func cronList(l []string) cronShown {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = cronQuote(s)
	}
	p := "[" + strings.Join(q, ", ") + "]"
	return cronShown{raw: p, text: p}
}

// cronChange is one property's change with Puppet's message: "defined 'x' as
// V" from absent, "undefined 'x' from V" to absent, else "x changed A to B";
// without apply Puppet's noop line; a sensitive property shows neither value.
func cronChange(name string, is, should cronShown, sensitive, apply bool) engine.Change {
	// Cron says "undefined" when the wanted value is absent, which is not always
	// when it prints as absent: the parsed-file message with that flag.
	return propertyChange(name, shown{raw: is.raw, text: is.text, absent: is.absent},
		shown{raw: should.raw, text: should.text, absent: should.undefines}, sensitive, apply)
}

// cronEnsureChange is ensure going to present (created) or absent (removed).
func cronEnsureChange(present, apply bool) engine.Change {
	c := engine.Change{Property: "ensure", Previous: "present", Desired: "absent", Message: "removed"}
	if present {
		c = engine.Change{Property: "ensure", Previous: "absent", Desired: "present", Message: "created"}
	}
	if !apply {
		c.Message = fmt.Sprintf("current_value '%s', should be '%s' (noop)", c.Previous, c.Desired)
	}
	return c
}

// cronQuote prints a string as Puppet's messages do (StringConverter's
// puppet_quote): single-quoted with ' escaped, a backslash escaping what
// follows it; double-quoted with escapes when it holds a control character.
func cronQuote(s string) string {
	for _, r := range s {
		if r < 0x20 {
			return cronDoubleQuote(s)
		}
	}
	var b strings.Builder
	b.WriteByte('\'')
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			b.WriteByte('\\')
			b.WriteRune(r)
			escaped = false
		case r == '\'':
			b.WriteString(`\'`)
		case r == '\\':
			escaped = true
		default:
			b.WriteRune(r)
		}
	}
	if escaped {
		b.WriteByte('\\')
	}
	b.WriteByte('\'')
	return b.String()
}

func cronDoubleQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '"':
			b.WriteString(`\"`)
		case '$':
			b.WriteString(`\$`)
		case '\\':
			b.WriteString(`\\`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u{%X}`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// systemCrontab is the real crontab command, used as Puppet's crontab filetype
// uses it. What `crontab -l` printed is kept with the identity of the spool file
// it came from, so that the crons of one user re-checking after a change (each
// write pokes them all) do not each run crontab again: any change of the file
// (crontab replaces it, crontab -r removes it, an edit changes its times) makes
// the next read run crontab.
type systemCrontab struct{ spool string }

// crontabCache maps a spool file's path to what crontab -l last printed for it.
var crontabCache sync.Map // path → cachedCrontab

type cachedCrontab struct {
	id   crontabFileID
	text string
}

// crontabFileID tells one version of a file from another.
type crontabFileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

func statCrontab(path string) (crontabFileID, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return crontabFileID{}, false
	}
	return crontabFileID{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}, true
}

// cronUserExists is Puppet::Util.uid: a name or a number that names a user.
func cronUserExists(name string) bool {
	if _, err := user.Lookup(name); err == nil {
		return true
	}
	if _, err := strconv.Atoi(name); err == nil {
		if _, err := user.LookupId(name); err == nil {
			return true
		}
	}
	return false
}

// read prints the crontab; a user without one, without an account or not
// allowed to use cron has an empty crontab.
func (s systemCrontab) read(ctx context.Context, u string) (string, error) {
	if !cronUserExists(u) {
		return "", nil
	}
	// The file's identity is taken before crontab reads it: a change made in
	// between is seen by the next read.
	path := filepath.Join(s.spool, u)
	id, known := statCrontab(path)
	if known {
		if c, ok := crontabCache.Load(path); ok && c.(cachedCrontab).id == id {
			return c.(cachedCrontab).text, nil
		}
	}
	cmd := exec.CommandContext(ctx, "crontab", "-u", u, "-l")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err == nil {
		if known {
			crontabCache.Store(path, cachedCrontab{id: id, text: out.String()})
		}
		return out.String(), nil
	}
	msg := errOut.String() + out.String()
	if strings.Contains(msg, "no crontab for") || strings.Contains(msg, "are not allowed to") {
		return "", nil
	}
	return "", fmt.Errorf("Could not read crontab for %s: %w", u, crontabFailure(cmd, err, msg))
}

// write installs text as the user's crontab, given on crontab's standard input.
func (systemCrontab) write(ctx context.Context, u, text string) error {
	if !cronUserExists(u) {
		return fmt.Errorf("Cannot write the %s user's crontab: The user does not exist", u)
	}
	cmd := exec.CommandContext(ctx, "crontab", "-u", u, "-")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("Could not write crontab for %s: %w", u, crontabFailure(cmd, err, string(out)))
	}
	return nil
}

// crontabFailure is Puppet's message for a command that failed.
func crontabFailure(cmd *exec.Cmd, err error, out string) error {
	line := strings.Join(cmd.Args, " ")
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("Execution of '%s' returned %d: %s", line, ee.ExitCode(), strings.TrimSpace(out))
	}
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("Execution of '%s' failed: crontab not found (Debian package cron): %w", line, err)
	}
	return fmt.Errorf("Execution of '%s' failed: %w", line, err)
}
