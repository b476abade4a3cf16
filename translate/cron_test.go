package translate

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// buildCronFor builds Cron[title] from params with the registered translation.
func buildCronFor(t *testing.T, title string, params map[string]any, sensitive ...string) (*resources.Cron, *Params) {
	t.Helper()
	r := &catalog.Resource{Type: "Cron", Title: title, Kind: "compilable_type", Parameters: params, SensitiveParameters: sensitive}
	p := newParams(r)
	c, _ := natives["Cron"].Build(p).(*resources.Cron)
	return c, p
}

func cronStr(s string) *string { return &s }
func cronList(l ...string) *[]string {
	if l == nil {
		l = []string{} // absent is an empty list, not nil
	}
	return &l
}

func TestCronTranslate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   *resources.Cron
	}{
		{name: "defaults", params: map[string]any{"command": "/bin/true"},
			want: &resources.Cron{Name: "job", User: runningUser(), Command: cronStr("/bin/true")}},
		{name: "numbers lists names", params: map[string]any{
			"command": "  /bin/echo x \n", "user": "root",
			"minute": json.Number("5"), "hour": []any{json.Number("1"), "2"}, "weekday": []any{"mon", "Friday"},
			"month": "jan", "monthday": "1-31/2",
		}, want: &resources.Cron{Name: "job", User: "root", Command: cronStr("/bin/echo x"),
			Minute: cronList("5"), Hour: cronList("1", "2"), Weekday: cronList("1", "5"), Month: cronList("1"),
			Monthday: cronList("1-31/2")}},
		{name: "absent and star", params: map[string]any{
			"command": "/bin/true", "minute": "absent", "hour": "*", "weekday": []any{"*", "1"}, "month": []any{[]any{"feb"}},
		}, want: &resources.Cron{Name: "job", User: runningUser(), Command: cronStr("/bin/true"),
			Minute: cronList(), Hour: cronList(), Weekday: cronList(), Month: cronList("2")}},
		{name: "special and environment", params: map[string]any{
			"command": "/bin/true", "special": "daily", "environment": []any{"PATH=/bin", `MAILTO=""`}, "target": "alice",
		}, want: &resources.Cron{Name: "job", User: "alice", Command: cronStr("/bin/true"), Special: cronStr("daily"),
			Environment: cronList("PATH=/bin", `MAILTO=""`)}},
		{name: "special absent, environment absent", params: map[string]any{
			"command": "/bin/true", "special": "absent", "minute": json.Number("0"), "environment": "absent", "user": "bob",
		}, want: &resources.Cron{Name: "job", User: "bob", Command: cronStr("/bin/true"), Special: cronStr(""),
			Minute: cronList("0"), Environment: cronList()}},
		{name: "absent job", params: map[string]any{"ensure": "absent", "name": "other", "user": "root"},
			want: &resources.Cron{Name: "other", Absent: true, User: "root"}},
		{name: "same user and target", params: map[string]any{"command": "x", "user": "root", "target": "root", "provider": "crontab"},
			want: &resources.Cron{Name: "job", User: "root", Command: cronStr("x")}},
	} {
		got, p := buildCronFor(t, "job", tc.params)
		if errs := p.Errs(); errs != nil {
			t.Errorf("%s: errors %v", tc.name, errs)
			continue
		}
		if unused := p.Unused(); unused != nil {
			t.Errorf("%s: unused %v", tc.name, unused)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", tc.name, got, tc.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tc.name, err)
		}
	}
}

// TestCronTranslateErrors: Puppet's validation errors, against the resource and
// the parameter.
func TestCronTranslateErrors(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{params: map[string]any{"minute": json.Number("60")},
			want: "Cron[x]: parameter minute: Munging failed for value 60 in class minute: 60 is not a valid minute"},
		{params: map[string]any{"weekday": []any{"mon", "funday"}},
			want: `Cron[x]: parameter weekday: Munging failed for value "funday" in class weekday: funday is not a valid weekday`},
		{params: map[string]any{"month": "Sept"},
			want: `Cron[x]: parameter month: Munging failed for value "Sept" in class month: Sept is not a valid month`},
		{params: map[string]any{"hour": map[string]any{"a": "b"}},
			want: "Cron[x]: parameter hour: want a string, a number or a list of them, got a hash"},
		{params: map[string]any{"special": "daily", "hour": json.Number("3")},
			want: "Cron[x]: parameter special: cannot specify both a special schedule and a value for hour"},
		{params: map[string]any{"special": "often"}, want: `Cron[x]: parameter special: Invalid special schedule "often"`},
		{params: map[string]any{"environment": []any{"A=1", "bad"}},
			want: `Cron[x]: parameter environment: Invalid environment setting "bad"`},
		{params: map[string]any{"ensure": "running"},
			want: `Cron[x]: parameter ensure: Invalid value "running". Valid values are present, absent.`},
		{params: map[string]any{"user": "a", "target": "b"},
			want: `Cron[x]: parameter target: "b" differing from user "a" is not supported yet`},
		{params: map[string]any{"provider": "suntab"},
			want: "Cron[x]: parameter provider: suntab is not supported yet"},
	} {
		tc.params["command"] = "/bin/true"
		_, p := buildCronFor(t, "x", tc.params)
		got := errStrings(p)
		if strings.Join(got, "\n") != tc.want {
			t.Errorf("%v:\ngot  %q\nwant %q", tc.params, got, tc.want)
		}
	}
}

func TestCronAutorequireAndSensitive(t *testing.T) {
	r := &catalog.Resource{Type: "Cron", Title: "x", Parameters: map[string]any{"user": "alice", "command": "/bin/true"}}
	if got := refStrings(natives["Cron"].Autorequire(newParams(r))); !reflect.DeepEqual(got, [][]string{{"User[alice]"}}) {
		t.Errorf("autorequire %v", got)
	}
	r = &catalog.Resource{Type: "Cron", Title: "x", Parameters: map[string]any{"target": "alice"}}
	if got := refStrings(natives["Cron"].Autorequire(newParams(r))); got != nil {
		t.Errorf("autorequire without user: %v", got)
	}
	c, p := buildCronFor(t, "x", map[string]any{"command": "/bin/secret", "user": "root"}, "command")
	if p.Errs() != nil || !c.Sensitive["command"] || len(c.Sensitive) != 1 {
		t.Errorf("sensitive %v, errors %v", c.Sensitive, p.Errs())
	}
}
