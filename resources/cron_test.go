package resources

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/fswatch"
)

func TestMungeCronField(t *testing.T) {
	for _, tc := range []struct {
		field  string
		in     CronValue
		want   string
		absent bool
		err    string
	}{
		{field: "minute", in: CronValue{Text: "5", Number: true}, want: "5"},
		{field: "minute", in: CronValue{Text: "05"}, want: "05"},
		{field: "minute", in: CronValue{Text: "59"}, want: "59"},
		{field: "minute", in: CronValue{Text: "60", Number: true}, err: "Munging failed for value 60 in class minute: 60 is not a valid minute"},
		{field: "minute", in: CronValue{Text: "-1", Number: true}, err: "Munging failed for value -1 in class minute: -1 is not a valid minute"},
		{field: "minute", in: CronValue{Text: "x"}, err: `Munging failed for value "x" in class minute: x is not a valid minute`},
		{field: "minute", in: CronValue{Text: ""}, err: `Munging failed for value "" in class minute:  is not a valid minute`},
		{field: "minute", in: CronValue{Text: "*/10"}, want: "*/10"},
		{field: "minute", in: CronValue{Text: "*"}, absent: true},
		{field: "minute", in: CronValue{Text: "absent"}, absent: true},
		{field: "hour", in: CronValue{Text: "8-18"}, want: "8-18"},
		{field: "hour", in: CronValue{Text: "99-100"}, want: "99-100"}, // ranges are not bounded
		{field: "hour", in: CronValue{Text: "1-2-3"}, err: `Munging failed for value "1-2-3" in class hour: 1-2-3 is not a valid hour`},
		{field: "hour", in: CronValue{Text: "24"}, err: `Munging failed for value "24" in class hour: 24 is not a valid hour`},
		{field: "monthday", in: CronValue{Text: "1-31/2"}, want: "1-31/2"},
		{field: "monthday", in: CronValue{Text: "0"}, err: `Munging failed for value "0" in class monthday: 0 is not a valid monthday`},
		{field: "month", in: CronValue{Text: "jan"}, want: "1"},
		{field: "month", in: CronValue{Text: "December"}, want: "12"},
		{field: "month", in: CronValue{Text: "Sept"}, err: `Munging failed for value "Sept" in class month: Sept is not a valid month`},
		{field: "month", in: CronValue{Text: "0"}, err: `Munging failed for value "0" in class month: 0 is not a valid month`},
		{field: "month", in: CronValue{Text: "___"}, want: "0"}, // Puppet's placeholder, as Puppet has it
		{field: "weekday", in: CronValue{Text: "mon"}, want: "1"},
		{field: "weekday", in: CronValue{Text: "Tue"}, want: "2"},
		{field: "weekday", in: CronValue{Text: "sunday"}, want: "0"},
		{field: "weekday", in: CronValue{Text: "Friday"}, want: "5"},
		{field: "weekday", in: CronValue{Text: "7"}, want: "7"},
		{field: "weekday", in: CronValue{Text: "mon-fri"}, err: `Munging failed for value "mon-fri" in class weekday: mon-fri is not a valid weekday`},
		{field: "weekday", in: CronValue{Text: "funday"}, err: `Munging failed for value "funday" in class weekday: funday is not a valid weekday`},
	} {
		got, absent, err := MungeCronField(tc.field, tc.in)
		name := tc.field + "=" + tc.in.Text
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case got != tc.want || absent != tc.absent:
			t.Errorf("%s: got %q absent %v, want %q absent %v", name, got, absent, tc.want, tc.absent)
		}
	}
}

func TestMungeCronFieldList(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{in: []string{"1", "2"}, want: "1,2"},
		{in: []string{"sunday", "7"}, want: "0,7"},
		{in: []string{"*", "5"}, want: ""},              // the first absent makes it absent
		{in: []string{"5", "absent"}, want: "5,absent"}, // as Puppet writes it
		{in: nil, want: ""},
	} {
		var vs []CronValue
		for _, s := range tc.in {
			vs = append(vs, CronValue{Text: s})
		}
		got, err := MungeCronFieldList("weekday", vs)
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestValidCronSpecialAndEnvironment(t *testing.T) {
	for _, tc := range []struct {
		special, env string
		err          string
	}{
		{special: "daily"},
		{special: "absent"},
		{special: "often", err: `Invalid special schedule "often"`},
		{special: "Daily", err: `Invalid special schedule "Daily"`},
		{env: "PATH=/bin"},
		{env: " MAILTO = \"\""},
		{env: "absent"},
		{env: "bad", err: `Invalid environment setting "bad"`},
		{env: "A-B=1", err: `Invalid environment setting "A-B=1"`},
	} {
		var err error
		if tc.special != "" {
			err = ValidCronSpecial(tc.special)
		} else {
			err = ValidCronEnvironment(tc.env)
		}
		if got := fmt.Sprint(err); (tc.err == "" && err != nil) || (tc.err != "" && got != tc.err) {
			t.Errorf("%q%q: %v, want %q", tc.special, tc.env, err, tc.err)
		}
	}
}

// TestCrontabRoundTrip: what Puppet writes back for a crontab it changes
// nothing in, its header aside.
func TestCrontabRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{name: "empty", in: "", want: "\n"},
		{name: "unmanaged lines kept",
			in:   "# mine\n\nMAILTO=root\n30 4 * * *   /usr/bin/x  a\n@reboot /bin/true\n",
			want: "# mine\n\nMAILTO=root\n30 4 * * * /usr/bin/x  a\n@reboot /bin/true\n"},
		{name: "old header dropped",
			in:   "# HEADER: This file was autogenerated at 2020-01-01 00:00:00 +0000 by puppet.\n# HEADER: x\n# Puppet Name: a\n5 * * * * /bin/a\n",
			want: "# Puppet Name: a\n5 * * * * /bin/a\n"},
		{name: "named job with its environment",
			in:   "# Puppet Name: a\nA=1\n B=2\n0 0 * * 1,5 /bin/a\n",
			want: "# Puppet Name: a\nA=1\n B=2\n0 0 * * 1,5 /bin/a\n"},
		{name: "environment after a named job goes to the next job",
			in:   "# Puppet Name: a\n1 * * * * /bin/a\nX=1\n2 * * * * /bin/b\n",
			want: "# Puppet Name: a\n1 * * * * /bin/a\nX=1\n2 * * * * /bin/b\n"},
		{name: "environment after a named job before another name is lost",
			in:   "# Puppet Name: a\n1 * * * * /bin/a\nX=1\n# Puppet Name: b\n2 * * * * /bin/b\n",
			want: "# Puppet Name: a\n1 * * * * /bin/a\n# Puppet Name: b\n2 * * * * /bin/b\n"},
		{name: "a dangling name comment is lost",
			in:   "1 * * * * /bin/a\n# Puppet Name: z\n",
			want: "1 * * * * /bin/a\n"},
		{name: "blank between name and job stays above the name",
			in:   "# Puppet Name: a\n\n1 * * * * /bin/a\n",
			want: "\n# Puppet Name: a\n1 * * * * /bin/a\n"},
		{name: "vixie header dropped",
			in:   "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n# (x installed on now)\n# (Cron version -- $Id: crontab.c,v 2.13 1994/01/17 03:20:37 vixie Exp $)\n1 * * * * /bin/a\n",
			want: "1 * * * * /bin/a\n"},
	} {
		recs, err := parseCrontab(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got := renderCrontab(recs, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
		header := fmt.Sprintf(cronHeader, "2024-05-06 07:08:09 +0000")
		if !strings.HasPrefix(got, header) {
			t.Errorf("%s: no header:\n%s", tc.name, got)
			continue
		}
		if body := strings.TrimPrefix(got, header); body != tc.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, body, tc.want)
		}
	}
}

func TestCrontabTZFirst(t *testing.T) {
	recs, err := parseCrontab("# x\nTZ=UTC\n1 * * * * /bin/a\n")
	if err != nil {
		t.Fatal(err)
	}
	got := renderCrontab(recs, time.Unix(0, 0).UTC())
	if want := "TZ=UTC\n# HEADER: This file was autogenerated at 1970-01-01 00:00:00 +0000 by puppet.\n"; !strings.HasPrefix(got, want) {
		t.Errorf("got %q", got)
	}
	if strings.Count(got, "TZ=UTC") != 1 {
		t.Errorf("TZ twice: %q", got)
	}
}

func TestCrontabUnparsable(t *testing.T) {
	if _, err := parseCrontab("1 * * * * /bin/a\nfoo\n"); err == nil || err.Error() != `Could not parse line "foo"` {
		t.Errorf("got %v", err)
	}
}

func TestCronJobLines(t *testing.T) {
	for _, tc := range []struct {
		rec  cronRecord
		want string
	}{
		{rec: cronRecord{name: "a", command: "/bin/a"}, want: "# Puppet Name: a\n* * * * * /bin/a"},
		{rec: cronRecord{name: "a", command: "/bin/a", unmanaged: true}, want: "* * * * * /bin/a"},
		{rec: cronRecord{name: "a", command: "/bin/a", special: "daily", time: [5][]string{{"5"}}, timeSet: [5]bool{true}},
			want: "# Puppet Name: a\n@daily /bin/a"},
		{rec: cronRecord{name: "a", command: "/bin/a", env: []string{"A=1", "B=2"},
			time: [5][]string{{"5"}, {"1", "2"}, nil, {"1"}, {"1-5"}}, timeSet: [5]bool{true, true, false, true, true}},
			want: "# Puppet Name: a\nA=1\nB=2\n5 1,2 * 1 1-5 /bin/a"},
	} {
		if got := tc.rec.jobLines(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func cronS(s string) *string      { return &s }
func cronL(l ...string) *[]string { return &l }

func TestFindCronJob(t *testing.T) {
	const tab = "# Puppet Name: a\n5 * * * * /bin/a\n" + // 0
		"5 1,2 * * * /bin/b\n" + // 1
		"@daily /bin/c\n" + // 2
		"* * * * * /bin/d\n" + // 3
		"# Puppet Name: named-e\n7 * * * * /bin/e\n" + // 4
		"# Puppet Name: dup\n1 * * * * /bin/dup\n" + // 5
		"# Puppet Name: dup\n2 * * * * /bin/dup\n" + // 6
		"1 * * * * /bin/f\n1 * * * * /bin/f\n" // 7, 8
	recs, err := parseCrontab(tab)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want cronWant
		idx  int
	}{
		{name: "by name", want: cronWant{name: "a", command: cronS("/bin/other")}, idx: 0},
		{name: "by command and schedule", want: cronWant{name: "b", command: cronS("/bin/b"), time: [5]*[]string{cronL("5"), cronL("1", "2")}}, idx: 1},
		{name: "unmanaged fields match anything", want: cronWant{name: "b", command: cronS("/bin/b")}, idx: 1},
		{name: "schedule differs", want: cronWant{name: "b", command: cronS("/bin/b"), time: [5]*[]string{cronL("6")}}, idx: -1},
		{name: "list order matters", want: cronWant{name: "b", command: cronS("/bin/b"), time: [5]*[]string{nil, cronL("2", "1")}}, idx: -1},
		{name: "absent matches '*'", want: cronWant{name: "d", command: cronS("/bin/d"), time: [5]*[]string{cronL(), cronL()}}, idx: 3},
		{name: "absent does not match a value", want: cronWant{name: "b", command: cronS("/bin/b"), time: [5]*[]string{cronL()}}, idx: -1},
		{name: "special", want: cronWant{name: "c", command: cronS("/bin/c"), special: cronS("daily")}, idx: 2},
		{name: "special differs", want: cronWant{name: "c", command: cronS("/bin/c"), special: cronS("weekly")}, idx: -1},
		{name: "special absent never matches", want: cronWant{name: "d", command: cronS("/bin/d"), special: cronS("")}, idx: -1},
		{name: "special wanted, line has fields", want: cronWant{name: "d", command: cronS("/bin/d"), special: cronS("daily")}, idx: -1},
		{name: "no command never matches", want: cronWant{name: "d"}, idx: -1},
		{name: "named jobs are not matched by content", want: cronWant{name: "e", command: cronS("/bin/e")}, idx: -1},
		{name: "the last named job wins", want: cronWant{name: "dup"}, idx: 6},
		{name: "the first unmanaged match is taken", want: cronWant{name: "f", command: cronS("/bin/f")}, idx: 7},
		{name: "unknown", want: cronWant{name: "zzz", command: cronS("/bin/zzz")}, idx: -1},
	} {
		got := findCronJob(recs, tc.want)
		if got != tc.idx {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.idx)
		}
	}
}

func TestCronQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/bin/true":       "'/bin/true'",
		"echo 'hi'":       `'echo \'hi\''`,
		`a\b`:             `'a\b'`,
		`a\'b`:            `'a\'b'`,
		`end\`:            `'end\'`,
		"tab\there":       `"tab\there"`,
		"cost $1 \"x\"\n": `"cost \$1 \"x\"\n"`,
	} {
		if got := cronQuote(in); got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
}

func TestCronValidate(t *testing.T) {
	for _, tc := range []struct {
		c   Cron
		err string
	}{
		{c: Cron{Name: "a", User: "root", Command: cronS("/bin/a"), Minute: cronL("5")}},
		{c: Cron{Name: "a", User: "", Command: cronS("/bin/a")}, err: `parameter target: invalid crontab user ""`},
		{c: Cron{Name: "a", User: "root", Special: cronS("daily"), Hour: cronL("3")},
			err: "parameter special: cannot specify both a special schedule and a value for hour"},
		{c: Cron{Name: "a", User: "root", Special: cronS("daily"), Hour: cronL()}},
		{c: Cron{Name: "a", User: "root", Minute: cronL("61")}, err: `parameter minute: invalid value "61"`},
		{c: Cron{Name: "a", User: "root", Environment: cronL("x")}, err: `parameter environment: Invalid environment setting "x"`},
		{c: Cron{Name: "a\nb", User: "root"}, err: "parameter name: a cron job's name cannot hold a newline"},
	} {
		err := tc.c.Validate()
		if got := fmt.Sprint(err); (tc.err == "" && err != nil) || (tc.err != "" && got != tc.err) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.err)
		}
	}
}

// fakeCrontabs keeps crontabs in memory, or, with spool set, in files there,
// replaced by rename as crontab does. delay widens the window between a read
// and a write.
type fakeCrontabs struct {
	mu    sync.Mutex
	tabs  map[string]string
	spool string
	delay time.Duration
}

func (f *fakeCrontabs) read(_ context.Context, user string) (string, error) {
	time.Sleep(f.delay)
	if f.spool != "" {
		data, err := os.ReadFile(filepath.Join(f.spool, user))
		if os.IsNotExist(err) {
			return "", nil
		}
		return string(data), err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tabs[user], nil
}

func (f *fakeCrontabs) write(_ context.Context, user, text string) error {
	time.Sleep(f.delay)
	if f.spool != "" {
		tmp := filepath.Join(f.spool, "tmp."+user)
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(f.spool, user))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tabs == nil {
		f.tabs = map[string]string{}
	}
	f.tabs[user] = text
	return nil
}

// body is a crontab without Puppet's header.
func (f *fakeCrontabs) body(t *testing.T, user string) string {
	t.Helper()
	text, err := f.read(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	return cronHeaderLine.ReplaceAllString(text, "")
}

// cronHandle records what a cron tells the engine.
type cronHandle struct {
	mu      sync.Mutex
	pokes   int
	changes []string // "property: message"
	logs    []string
}

func (h *cronHandle) Poke() { h.mu.Lock(); h.pokes++; h.mu.Unlock() }
func (h *cronHandle) Change(c engine.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.changes = append(h.changes, c.Property+": "+c.Message)
}
func (h *cronHandle) Logf(level engine.Level, format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, level.String()+": "+fmt.Sprintf(format, args...))
}
func (h *cronHandle) PropertyLogf(level engine.Level, _, format string, args ...any) {
	h.Logf(level, format, args...)
}
func (h *cronHandle) Printf(level engine.Level, format string, args ...any) {
	h.Logf(level, format, args...)
}
func (h *cronHandle) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.changes
	h.changes = nil
	return out
}
func (h *cronHandle) pokeCount() int { h.mu.Lock(); defer h.mu.Unlock(); return h.pokes }

// TestCronCheckApply walks one job through its life in a crontab that holds
// lines Puppet does not manage: each step's changes, messages and the crontab.
func TestCronCheckApply(t *testing.T) {
	tabs := &fakeCrontabs{tabs: map[string]string{"root": "# mine\nMAILTO=x\n0 0 * * * /bin/other\n"}}
	h := &cronHandle{}
	c := &Cron{Name: "job", User: "root", Command: cronS("/bin/job"), Minute: cronL("5"), Hour: cronL("1", "2"),
		Weekday: cronL(), Environment: cronL("A=1"), tab: tabs}
	_ = c.Init(h)
	ctx := t.Context()
	step := func(name string, apply bool, wantOK bool, wantChanges []string, wantBody string) {
		t.Helper()
		ok, err := c.CheckApply(ctx, apply)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ok != wantOK {
			t.Errorf("%s: ok %v, want %v", name, ok, wantOK)
		}
		if got := h.take(); strings.Join(got, "\n") != strings.Join(wantChanges, "\n") {
			t.Errorf("%s: changes\n  %s\nwant\n  %s", name, strings.Join(got, "\n  "), strings.Join(wantChanges, "\n  "))
		}
		if got := tabs.body(t, "root"); got != wantBody {
			t.Errorf("%s: crontab\n%s\nwant\n%s", name, got, wantBody)
		}
	}
	const others = "# mine\nMAILTO=x\n0 0 * * * /bin/other\n"
	step("noop create", false, false, []string{"ensure: current_value 'absent', should be 'present' (noop)"}, others)
	step("create", true, false, []string{"ensure: created"}, others+"# Puppet Name: job\nA=1\n5 1,2 * * * /bin/job\n")
	step("converged", true, true, nil, others+"# Puppet Name: job\nA=1\n5 1,2 * * * /bin/job\n")

	// Drift made by hand: another minute, weekday and environment.
	tabs.tabs["root"] = others + "# Puppet Name: job\nB=2\n7 1,2 * * mon /bin/job\n# after\n"
	step("noop drift", false, false, []string{
		"minute: current_value ['7'], should be ['5'] (noop)",
		"weekday: current_value ['mon'], should be 'absent' (noop)",
		"environment: current_value ['B=2'], should be A=1 (noop)",
	}, others+"# Puppet Name: job\nB=2\n7 1,2 * * mon /bin/job\n# after\n")
	step("repair", true, false, []string{
		"minute: minute changed ['7'] to ['5']",
		"weekday: undefined 'weekday' from ['mon']",
		"environment: environment changed ['B=2'] to A=1",
	}, others+"# Puppet Name: job\nA=1\n5 1,2 * * * /bin/job\n# after\n")

	c.Command, c.Special, c.Minute, c.Hour, c.Weekday, c.Environment = cronS("/bin/job  --x"), cronS("daily"), nil, nil, nil, cronL()
	step("special and command", true, false, []string{
		"command: command changed '/bin/job' to '/bin/job  --x'",
		"special: defined 'special' as 'daily'",
		"environment: environment changed ['A=1'] to absent",
	}, others+"# Puppet Name: job\n@daily /bin/job  --x\n# after\n")
	step("absent environment is in sync", true, true, nil, others+"# Puppet Name: job\n@daily /bin/job  --x\n# after\n")

	c.Special, c.Minute = cronS(""), cronL("0")
	step("special absent", true, false, []string{
		"special: undefined 'special' from 'daily'",
		"minute: defined 'minute' as ['0']",
	}, others+"# Puppet Name: job\n0 * * * * /bin/job  --x\n# after\n")

	c.Environment = nil
	c.Absent = true
	step("noop remove", false, false, []string{"ensure: current_value 'present', should be 'absent' (noop)"},
		others+"# Puppet Name: job\n0 * * * * /bin/job  --x\n# after\n")
	step("remove", true, false, []string{"ensure: removed"}, others+"# after\n")
	step("removed", true, true, nil, others+"# after\n")
}

// TestCronAdoptsUnmanagedJob: a job with the same command and schedule and no
// name comment is the resource's: nothing is written while it is in sync, and a
// change keeps it without a name, as Puppet does.
func TestCronAdoptsUnmanagedJob(t *testing.T) {
	tabs := &fakeCrontabs{tabs: map[string]string{"root": "15 3 * * * /bin/echo adopted\n"}}
	h := &cronHandle{}
	c := &Cron{Name: "adopted", User: "root", Command: cronS("/bin/echo adopted"), Minute: cronL("15"), Hour: cronL("3"), tab: tabs}
	_ = c.Init(h)
	if ok, err := c.CheckApply(t.Context(), true); !ok || err != nil {
		t.Fatalf("ok %v err %v %v", ok, err, h.take())
	}
	if got := tabs.tabs["root"]; got != "15 3 * * * /bin/echo adopted\n" {
		t.Errorf("rewritten: %q", got)
	}
	// Puppet would write the environment without a name comment, and again
	// at every run; named, the job keeps it.
	c.Environment = cronL("A=1")
	if ok, err := c.CheckApply(t.Context(), true); ok || err != nil {
		t.Fatalf("ok %v err %v", ok, err)
	}
	if got := tabs.body(t, "root"); got != "# Puppet Name: adopted\nA=1\n15 3 * * * /bin/echo adopted\n" {
		t.Errorf("got %q", got)
	}
	if ok, err := c.CheckApply(t.Context(), true); !ok || err != nil {
		t.Fatalf("after: ok %v err %v %v", ok, err, h.take())
	}
}

// TestCronChangeThatChangesNothing: a time field managed on a job whose special
// wins is a change at every check, as in Puppet, but the crontab is not
// rewritten for it (each write would poke the job again).
func TestCronChangeThatChangesNothing(t *testing.T) {
	tabs := &fakeCrontabs{tabs: map[string]string{"root": "# Puppet Name: d\n@daily /bin/d\n"}}
	h := &cronHandle{}
	c := &Cron{Name: "d", User: "root", Command: cronS("/bin/d"), Minute: cronL("5"), tab: tabs}
	_ = c.Init(h)
	for i := 0; i < 2; i++ {
		if ok, err := c.CheckApply(t.Context(), true); ok || err != nil {
			t.Fatalf("ok %v err %v", ok, err)
		}
		if got := strings.Join(h.take(), ","); got != "minute: defined 'minute' as ['5']" {
			t.Errorf("changes %s", got)
		}
	}
	if got := tabs.tabs["root"]; got != "# Puppet Name: d\n@daily /bin/d\n" {
		t.Errorf("rewritten: %q", got)
	}
}

func TestCronNoCommand(t *testing.T) {
	tabs := &fakeCrontabs{}
	h := &cronHandle{}
	c := &Cron{Name: "x", User: "root", Minute: cronL("1"), tab: tabs}
	_ = c.Init(h)
	if ok, err := c.CheckApply(t.Context(), true); ok || err != nil {
		t.Fatalf("ok %v err %v", ok, err)
	}
	if got := strings.Join(h.take(), ","); got != "ensure: created" {
		t.Errorf("changes %s", got)
	}
	if len(h.logs) != 1 || h.logs[0] != "Error: no command specified, cannot create" {
		t.Errorf("logs %q", h.logs)
	}
	if got := tabs.body(t, "root"); got != "\n" {
		t.Errorf("crontab %q", got)
	}
}

func TestCronSensitive(t *testing.T) {
	tabs := &fakeCrontabs{tabs: map[string]string{"root": "# Puppet Name: s\n* * * * * /bin/old secret\n"}}
	h := &cronHandle{}
	c := &Cron{Name: "s", User: "root", Command: cronS("/bin/new secret"), Sensitive: map[string]bool{"command": true}, tab: tabs}
	_ = c.Init(h)
	if _, err := c.CheckApply(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.take(), ","); got != "command: changed [redacted] to [redacted]" {
		t.Errorf("changes %s", got)
	}
}

// TestCronParallelSameUser runs many crons of one user at once against a slow
// crontab: none may lose another's job.
func TestCronParallelSameUser(t *testing.T) {
	tabs := &fakeCrontabs{tabs: map[string]string{"alice": "0 0 * * * /bin/keep\n"}, delay: time.Millisecond}
	var wg sync.WaitGroup
	const n = 20
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		c := &Cron{Name: fmt.Sprintf("job%d", i), User: "alice", Command: cronS(fmt.Sprintf("/bin/job %d", i)),
			Minute: cronL(fmt.Sprint(i)), tab: tabs}
		_ = c.Init(&cronHandle{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.CheckApply(t.Context(), true); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	body := tabs.body(t, "alice")
	for i := 0; i < n; i++ {
		if !strings.Contains(body, fmt.Sprintf("# Puppet Name: job%d\n%d * * * * /bin/job %d\n", i, i, i)) {
			t.Errorf("job%d lost:\n%s", i, body)
		}
	}
	if !strings.HasPrefix(body, "0 0 * * * /bin/keep\n") {
		t.Errorf("unmanaged line moved or lost:\n%s", body)
	}
}

// TestCronTimeline: converge, then change the crontab as crontab does (a new
// file renamed over it, the file removed); each change pokes within a second
// and the next CheckApply repairs it.
func TestCronTimeline(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := fswatch.New()
	if err != nil {
		t.Fatal(err)
	}
	w.Start(ctx)
	defer w.Close()

	spool := t.TempDir()
	tabs := &fakeCrontabs{spool: spool}
	h := &cronHandle{}
	c := &Cron{Name: "job", User: "root", Command: cronS("/bin/job"), Minute: cronL("5"), SpoolDir: spool, tab: tabs,
		pathWatch: pathWatch{watcher: w}}
	_ = c.Init(h)
	if err := c.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	repair := func(what string, want ...string) {
		t.Helper()
		if ok, err := c.CheckApply(ctx, true); ok || err != nil {
			t.Fatalf("%s: ok %v err %v", what, ok, err)
		}
		if got := h.take(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: changes %v, want %v", what, got, want)
		}
		if ok, err := c.CheckApply(ctx, true); !ok || err != nil {
			t.Fatalf("%s: after repair ok %v err %v %v", what, ok, err, h.take())
		}
	}
	drift := func(what string, change func() error) {
		t.Helper()
		before := h.pokeCount()
		if err := change(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Second)
		for h.pokeCount() == before {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no poke within 1 s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	repair("create", "ensure: created")
	drift("job edited", func() error {
		return tabs.write(ctx, "root", "# Puppet Name: job\n7 * * * * /bin/job\n")
	})
	repair("job edited", "minute: minute changed ['7'] to ['5']")
	drift("job removed", func() error { return tabs.write(ctx, "root", "0 0 * * * /bin/other\n") })
	repair("job removed", "ensure: created")
	drift("crontab removed", func() error { return os.Remove(filepath.Join(spool, "root")) })
	repair("crontab removed", "ensure: created")
	if got := tabs.body(t, "root"); got != "# Puppet Name: job\n5 * * * * /bin/job\n" {
		t.Errorf("final crontab %q", got)
	}

	time.Sleep(20 * time.Millisecond)
	_ = c.Close()
	if s := w.Stats(); s.Paths != 0 {
		t.Errorf("watcher still holds %+v", s)
	}
}
