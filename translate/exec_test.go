package translate

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// buildNative builds one resource of typ with its registered translation.
func buildNative(t *testing.T, typ, title string, params map[string]any, sensitive ...string) (engine.Resource, *Params) {
	t.Helper()
	n, ok := natives[typ]
	if !ok {
		t.Fatalf("%s is not registered", typ)
	}
	r := &catalog.Resource{Type: typ, Title: title, Kind: "compilable_type", Parameters: params, SensitiveParameters: sensitive}
	p := newParams(r)
	return n.Build(p), p
}

func errStrings(p *Params) []string {
	var out []string
	for _, err := range p.Errs() {
		out = append(out, err.Error())
	}
	for _, r := range p.Unsupported() {
		out = append(out, unsupportedProblem(p.Resource().Ref(), r))
	}
	return out
}

func TestExecTranslateDefaults(t *testing.T) {
	res, p := buildNative(t, "Exec", "/bin/true", nil)
	if errs := p.Errs(); errs != nil {
		t.Fatalf("errors: %v", errs)
	}
	want := resources.NewExec("/bin/true")
	if got := res.(*resources.Exec); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestExecTranslate(t *testing.T) {
	res, p := buildNative(t, "Exec", "install", map[string]any{
		"command":     "make install",
		"path":        []any{"/usr/local/bin:/usr/bin", "/bin"},
		"cwd":         "/src",
		"environment": "HOME=/root",
		"user":        "builder",
		"group":       "staff",
		"umask":       json.Number("22"),
		"creates":     "/usr/local/bin/tool",
		"onlyif":      []any{"test -d /src"},
		"unless":      "/usr/local/bin/tool --version",
		"refreshonly": "true",
		"refresh":     "make reinstall",
		"returns":     []any{json.Number("0"), "2"},
		"timeout":     "1.5",
		"tries":       json.Number("3"),
		"try_sleep":   json.Number("2"),
		"logoutput":   true,
		"provider":    "shell",
		"loglevel":    "info",
		"require":     "File[/src]",
	})
	if errs := p.Errs(); errs != nil {
		t.Fatalf("errors: %v", errs)
	}
	if unused := p.Unused(); unused != nil {
		t.Errorf("unused parameters %v", unused)
	}
	want := &resources.Exec{
		Command: "make install", Path: []string{"/usr/local/bin", "/usr/bin", "/bin"}, Cwd: "/src",
		Environment: []string{"HOME=/root"}, User: "builder", Group: "staff", Umask: "22",
		Creates: []string{"/usr/local/bin/tool"}, Onlyif: []string{"test -d /src"},
		Unless: []string{"/usr/local/bin/tool --version"}, Refreshonly: true, RefreshCommand: "make reinstall",
		Returns: []int{0, 2}, Timeout: 1500 * time.Millisecond, Tries: 3, TrySleep: 2 * time.Second,
		Logoutput: "true", Provider: "shell", Loglevel: engine.Info,
	}
	if got := res.(*resources.Exec); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestExecTranslateErrors(t *testing.T) {
	const unqualified = "'%s' is not qualified and no path was specified. Please qualify the command or specify a path."
	for _, tc := range []struct {
		name   string
		title  string
		params map[string]any
		want   []string
	}{
		{"unqualified", "foo --bar", nil,
			[]string{"Exec[foo --bar]: parameter command: 'foo' is not qualified and no path was specified. Please qualify the command or specify a path."}},
		{"unqualified checks", "/bin/true", map[string]any{"onlyif": "test -f /x", "unless": []any{"/bin/true", "grep x /y"}},
			[]string{
				"Exec[/bin/true]: parameter onlyif: " + strings.Replace(unqualified, "%s", "test", 1),
				"Exec[/bin/true]: parameter unless: " + strings.Replace(unqualified, "%s", "grep", 1),
			}},
		{"returns", "/bin/true", map[string]any{"returns": []any{"0", "x"}},
			[]string{`Exec[/bin/true]: parameter returns: want an integer or a list of integers, got "x"`}},
		{"tries", "/bin/true", map[string]any{"tries": json.Number("0")},
			[]string{"Exec[/bin/true]: parameter tries: Tries must be an integer >= 1"}},
		{"timeout", "/bin/true", map[string]any{"timeout": "soon"},
			[]string{`Exec[/bin/true]: parameter timeout: want a number, got "soon"`}},
		{"try_sleep", "/bin/true", map[string]any{"try_sleep": json.Number("-1")},
			[]string{"Exec[/bin/true]: parameter try_sleep: try_sleep cannot be a negative number"}},
		{"logoutput", "/bin/true", map[string]any{"logoutput": "yes"},
			[]string{`Exec[/bin/true]: parameter logoutput: invalid value "yes", want true, false or on_failure`}},
		{"provider", "/bin/true", map[string]any{"provider": "windows"},
			[]string{`Exec[/bin/true]: parameter provider: invalid value "windows", want posix or shell`}},
		{"umask", "/bin/true", map[string]any{"umask": "u=rwx"},
			[]string{`Exec[/bin/true]: parameter umask: The umask specification is invalid: "u=rwx"`}},
		{"environment", "/bin/true", map[string]any{"environment": []any{"A=1", "B"}},
			[]string{"Exec[/bin/true]: parameter environment: Invalid environment setting 'B'"}},
		{"loglevel", "/bin/true", map[string]any{"loglevel": "loud"},
			[]string{`Exec[/bin/true]: parameter loglevel: invalid value "loud", want debug, info, notice, warning, err, alert, emerg, crit or verbose`}},
		{"array command", "x", map[string]any{"command": []any{"/bin/echo", "hi"}},
			[]string{"Exec[x]: parameter command: the array form is not supported yet"}},
		{"array command unqualified", "x", map[string]any{"command": []any{"echo", "hi"}},
			[]string{"Exec[x]: parameter command: " + strings.Replace(unqualified, "%s", "echo", 1),
				"Exec[x]: parameter command: the array form is not supported yet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, p := buildNative(t, "Exec", tc.title, tc.params)
			if got := errStrings(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	// A timeout below zero is none, as in Puppet.
	res, p := buildNative(t, "Exec", "/bin/true", map[string]any{"timeout": json.Number("-5")})
	if p.Errs() != nil || res.(*resources.Exec).Timeout != 0 {
		t.Errorf("timeout -5: %v, %v", res.(*resources.Exec).Timeout, p.Errs())
	}
}

func TestExecTranslateSensitive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		params    map[string]any
		sensitive []string
		want      bool
	}{
		{"none", map[string]any{"unless": "/bin/false"}, nil, false},
		{"top-level unless", map[string]any{"unless": "/bin/false"}, []string{"unless"}, true},
		{"nested command", map[string]any{"command": catalog.Sensitive{Value: "/bin/echo s3cret"}}, nil, true},
		{"other parameter", map[string]any{"environment": "A=1"}, []string{"environment"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, p := buildNative(t, "Exec", "x", tc.params, tc.sensitive...)
			e := res.(*resources.Exec)
			if e.Sensitive != tc.want {
				t.Errorf("Sensitive = %v, want %v (errors %v)", e.Sensitive, tc.want, p.Errs())
			}
		})
	}
}

func TestExecAutorequire(t *testing.T) {
	for _, tc := range []struct {
		title  string
		params map[string]any
		want   [][]string
	}{
		{"/bin/true", nil, [][]string{{"File[/bin/true]"}}},
		{"true", map[string]any{"path": "/bin"}, nil},
		{"x", map[string]any{
			"command": "/usr/bin/make -C /src && /bin/echo\n/sbin/ldconfig",
			"cwd":     "/src",
			"onlyif":  []any{"/usr/bin/test -f /x", "test -d /y"},
			"unless":  "/bin/false",
			"user":    "builder",
		}, [][]string{{"File[/src]"}, {"File[/usr/bin/make]"}, {"File[/sbin/ldconfig]"}, {"File[/usr/bin/test]"}, {"File[/bin/false]"}, {"User[builder]"}}},
		{"x", map[string]any{"command": `"/opt/my app/run" -x`, "user": "1000"}, [][]string{{"File[/opt/my app/run]"}}},
	} {
		_, p := buildNative(t, "Exec", tc.title, tc.params)
		if got := refStrings(natives["Exec"].Autorequire(p)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %v: autorequire %q, want %q", tc.title, tc.params, got, tc.want)
		}
	}
}

func TestNotifyAnchorTranslate(t *testing.T) {
	for _, tc := range []struct {
		title     string
		params    map[string]any
		sensitive []string
		want      *resources.Notify
	}{
		{"hello world", nil, nil, &resources.Notify{Message: "hello world", Loglevel: engine.Notice}},
		{"x", map[string]any{"message": "hi", "withpath": true, "loglevel": "warning"}, nil,
			&resources.Notify{Message: "hi", Withpath: true, Loglevel: engine.Warning}},
		{"x", map[string]any{"name": "named"}, nil, &resources.Notify{Message: "named", Loglevel: engine.Notice}},
		{"x", map[string]any{"message": json.Number("42")}, nil, &resources.Notify{Message: "42", Loglevel: engine.Notice}},
		{"s", map[string]any{"message": "secret"}, []string{"message"},
			&resources.Notify{Message: "secret", Sensitive: true, Loglevel: engine.Notice}},
		{"s", map[string]any{"message": catalog.Sensitive{Value: "secret"}}, nil,
			&resources.Notify{Message: "secret", Sensitive: true, Loglevel: engine.Notice}},
	} {
		res, p := buildNative(t, "Notify", tc.title, tc.params, tc.sensitive...)
		if p.Errs() != nil || p.Unused() != nil {
			t.Errorf("Notify[%s]: errors %v, unused %v", tc.title, p.Errs(), p.Unused())
		}
		if got := res.(*resources.Notify); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Notify[%s] = %+v, want %+v", tc.title, got, tc.want)
		}
	}
	_, p := buildNative(t, "Notify", "x", map[string]any{"withpath": "maybe"})
	if got := errStrings(p); !reflect.DeepEqual(got, []string{`Notify[x]: parameter withpath: want true or false, got "maybe"`}) {
		t.Errorf("errors %q", got)
	}

	res, p := buildNative(t, "Anchor", "apache::begin", map[string]any{"name": "apache::begin"})
	if _, ok := res.(*resources.Anchor); !ok || p.Errs() != nil || p.Unused() != nil {
		t.Errorf("Anchor: %T, errors %v, unused %v", res, p.Errs(), p.Unused())
	}
}
