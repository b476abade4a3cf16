package translate

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// translateFile builds a File as Translate does and returns the problems it would
// report: parameter errors, unread parameters, then Validate.
func translateFile(t *testing.T, r catalog.Resource) (*resources.File, []string) {
	t.Helper()
	r.Type, r.Kind = "File", "compilable_type"
	n := natives["File"]
	p := newParams(&r)
	f := n.Build(p).(*resources.File)
	var probs []string
	for _, err := range p.Errs() {
		probs = append(probs, err.Error())
	}
	for _, name := range p.Unused(n.Ignorable...) {
		probs = append(probs, fmt.Sprintf("%s: parameter %s is not supported yet", r.Ref(), name))
	}
	for _, reason := range p.Unsupported() {
		probs = append(probs, unsupportedProblem(r.Ref(), reason))
	}
	for _, src := range f.UnfetchableSources(nil) {
		probs = append(probs, unsupportedProblem(r.Ref(), "parameter source: "+src))
	}
	if len(probs) == 0 {
		if err := f.Validate(); err != nil {
			probs = append(probs, fmt.Sprintf("%s: %v", r.Ref(), err))
		}
	}
	return f, probs
}

func TestFileTranslate(t *testing.T) {
	s := func(v string) *string { return &v }
	cases := []struct {
		name   string
		title  string
		params map[string]any
		sens   []string
		want   resources.File
	}{
		{"defaults", "/etc/motd", nil, nil,
			resources.File{Path: "/etc/motd", Replace: true}},
		{"trailing slash", "/etc/", map[string]any{"ensure": "directory"}, nil,
			resources.File{Path: "/etc", Ensure: "directory", Replace: true}},
		{"path parameter", "motd", map[string]any{"path": "/etc//motd", "ensure": "file"}, nil,
			resources.File{Path: "/etc/motd", Ensure: "file", Replace: true}},
		{"content implies file", "/x", map[string]any{"content": "hi\n", "mode": "0644", "owner": "root", "group": json.Number("0")}, nil,
			resources.File{Path: "/x", Ensure: "file", Content: s("hi\n"), Mode: "0644", Owner: "root", Group: "0", Replace: true}},
		{"sensitive content", "/x", map[string]any{"content": "pw"}, []string{"content"},
			resources.File{Path: "/x", Ensure: "file", Content: s("pw"), ContentSensitive: true, Replace: true}},
		{"nested sensitive content", "/x", map[string]any{"content": catalog.Sensitive{Value: "pw"}}, nil,
			resources.File{Path: "/x", Ensure: "file", Content: s("pw"), ContentSensitive: true, Replace: true}},
		{"target implies link", "/x", map[string]any{"target": "/y"}, nil,
			resources.File{Path: "/x", Ensure: "link", Target: "/y", Replace: true}},
		{"ensure as target", "/x", map[string]any{"ensure": "/y"}, nil,
			resources.File{Path: "/x", Ensure: "link", Target: "/y", Replace: true}},
		{"ensure false", "/x", map[string]any{"ensure": "false", "force": true}, nil,
			resources.File{Path: "/x", Ensure: "absent", Force: true, Replace: true}},
		{"symbolic mode, replace, backup, checksum", "/x",
			map[string]any{"mode": "u=rw,go=r", "replace": "false", "backup": ".bak", "checksum": "md5"}, nil,
			resources.File{Path: "/x", Mode: "u=rw,go=r", Replace: false, Backup: ".bak", Checksum: "md5"}},
		{"backup true and false", "/x", map[string]any{"backup": true}, nil,
			resources.File{Path: "/x", Backup: ".puppet-bak", Replace: true}},
		{"backup false", "/x", map[string]any{"backup": false}, nil,
			resources.File{Path: "/x", Replace: true}},
		{"recurse with source, purge and ignore", "/d",
			map[string]any{"ensure": "directory", "recurse": true, "purge": true, "force": true, "source": "puppet:///modules/m/d",
				"recurselimit": json.Number("2"), "ignore": []any{"*.bak", ".git"}, "sourceselect": "first", "max_files": json.Number("0")}, nil,
			resources.File{Path: "/d", Ensure: "directory", Recurse: "true", RecurseLimit: 2, Purge: true, Force: true,
				Source: []string{"puppet:///modules/m/d"}, Ignore: []string{"*.bak", ".git"}, Replace: true}},
		{"recurse remote, ignore a string", "/d",
			map[string]any{"recurse": "remote", "source": "/src", "ignore": "*.o", "recurselimit": "1"}, nil,
			resources.File{Path: "/d", Ensure: "file", Recurse: "remote", RecurseLimit: 1, Source: []string{"/src"}, Ignore: []string{"*.o"}, Replace: true}},
		{"recurse true as a string, ignore false", "/d", map[string]any{"recurse": "true", "ignore": false}, nil,
			resources.File{Path: "/d", Recurse: "true", Replace: true}},
		{"recurselimit 0 is no recursion", "/d", map[string]any{"recurse": true, "recurselimit": json.Number("0"), "purge": true}, nil,
			resources.File{Path: "/d", Purge: true, Replace: true}},
		{"defaults and ignorables accepted", "/x",
			map[string]any{"recurse": false, "purge": "false", "links": "manage", "show_diff": false,
				"seltype": "etc_t", "provider": "posix", "checksum": "sha256", "require": "File[/]"}, nil,
			resources.File{Path: "/x", Checksum: "sha256", Replace: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, probs := translateFile(t, catalog.Resource{Title: c.title, Parameters: c.params, SensitiveParameters: c.sens})
			if probs != nil {
				t.Fatalf("problems: %q", probs)
			}
			// show_diff is true unless the parameter says otherwise (the run's
			// setting is and-ed in later: TestFileShowDiff).
			want := c.want
			want.ShowDiff = c.params["show_diff"] != false
			if !reflect.DeepEqual(*f, want) {
				t.Errorf("got  %+v\nwant %+v", *f, want)
			}
		})
	}
}

// TestFileShowDiff: a File shows diffs when the run's show_diff setting
// (Options.ShowDiff) and its own show_diff parameter (true by default) both say so.
func TestFileShowDiff(t *testing.T) {
	for _, tc := range []struct {
		setting bool
		param   any // nil: not given
		want    bool
	}{
		{false, nil, false},
		{true, nil, true},
		{true, false, false},
		{true, "false", false},
		{true, true, true},
		{false, true, false},
	} {
		params := map[string]any{"content": "x"}
		if tc.param != nil {
			params["show_diff"] = tc.param
		}
		cat := &catalog.Catalog{Name: "n", Environment: "production", Resources: []catalog.Resource{
			{Type: "File", Title: "/etc/app.conf", Kind: "compilable_type", Parameters: params},
		}}
		res, err := Translate(cat, Options{ShowDiff: tc.setting})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Graph.Vertex("File[/etc/app.conf]").Resource.(*resources.File).ShowDiff; got != tc.want {
			t.Errorf("setting %v, parameter %v: ShowDiff %v, want %v", tc.setting, tc.param, got, tc.want)
		}
	}
}

func TestFileTranslateErrors(t *testing.T) {
	cases := []struct {
		title  string
		params map[string]any
		want   string
	}{
		{"motd", nil, "File[motd]: parameter path: File paths must be fully qualified, not 'motd'"},
		{"/x", map[string]any{"ensure": "fiel"}, `File[/x]: parameter ensure: invalid value "fiel"`},
		{"/x", map[string]any{"ensure": "link"}, "File[/x]: parameter target: Cannot create a symlink without a target"},
		{"/x", map[string]any{"mode": "0999"}, `File[/x]: parameter mode: The file mode specification is invalid: "0999"`},
		{"/x", map[string]any{"mode": json.Number("644")}, "File[/x]: parameter mode: The file mode specification must be a string"},
		{"/x", map[string]any{"mode": "a=X"}, "File[/x]: parameter mode: X only works with the '+' operator"},
		{"/x", map[string]any{"checksum": "mtime"}, "File[/x]: parameter checksum: mtime is not supported yet"},
		{"/x", map[string]any{"checksum": "sha3"}, `File[/x]: parameter checksum: invalid value "sha3"`},
		{"/x", map[string]any{"backup": "puppet"}, `File[/x]: parameter backup: filebucket "puppet" is not supported yet`},
		{"/x", map[string]any{"links": "follow"}, "File[/x]: parameter links: follow is not supported yet"},
		{"/x", map[string]any{"force": "maybe"}, `File[/x]: parameter force: want true or false, got "maybe"`},
		{"/x", map[string]any{"group": ""}, "File[/x]: parameter group: Invalid group name ''"},
		{"/x", map[string]any{"content": []any{"a"}}, "File[/x]: parameter content: want a string, got a list"},
		{"/x", map[string]any{"source": "puppet://server/modules/m/f"}, "File[/x]: parameter source: puppet://server/modules/m/f is not supported yet"},
		{"/x", map[string]any{"recurse": "inf"}, `File[/x]: parameter recurse: Invalid recurse value "inf"`},
		{"/x", map[string]any{"recurse": json.Number("2")}, `File[/x]: parameter recurse: Invalid recurse value "2"`},
		{"/x", map[string]any{"recurse": "remote"}, "File[/x]: You cannot specify a remote recursion without a source"},
		{"/x", map[string]any{"recurse": true, "recurselimit": "-1"}, `File[/x]: parameter recurselimit: Invalid recurselimit value "-1"`},
		{"/x", map[string]any{"recurse": true, "recurselimit": "two"}, `File[/x]: parameter recurselimit: Invalid recurselimit value "two"`},
		{"/x", map[string]any{"recurse": true, "content": "x"}, "File[/x]: parameter recurse: content with recurse is not supported yet"},
		{"/x", map[string]any{"recurse": true, "sourceselect": "all", "source": "/s"}, "File[/x]: parameter sourceselect: all is not supported yet"},
		{"/x", map[string]any{"recurse": true, "ignore": "[a"}, `File[/x]: ignore "[a": syntax error in pattern`},
		{"/x", map[string]any{"purge": "maybe"}, `File[/x]: parameter purge: want true or false, got "maybe"`},
		{"/x", map[string]any{"source_permissions": "use"}, "File[/x]: parameter source_permissions is not supported yet"},
	}
	for _, c := range cases {
		_, probs := translateFile(t, catalog.Resource{Title: c.title, Parameters: c.params})
		if len(probs) != 1 || !strings.HasPrefix(probs[0], c.want) {
			t.Errorf("%s %v: problems %q, want one starting %q", c.title, c.params, probs, c.want)
		}
	}
}

func TestFileCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"/": "/", "//": "/", "/etc/": "/etc", "/etc///": "/etc", "/a//b/./c/../d": "/a/b/d", "rel/": "rel",
	} {
		if got := canonicalPath(in); got != want {
			t.Errorf("canonicalPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFileAutorequire(t *testing.T) {
	cases := []struct {
		title  string
		params map[string]any
		want   [][]string
	}{
		{"/", nil, nil},
		{"/etc", nil, [][]string{{"File[/]"}}},
		{"/a/b/c/", map[string]any{"owner": "www", "group": "www-data"},
			[][]string{{"File[/a/b]", "File[/a]", "File[/]"}, {"User[www]"}, {"Group[www-data]"}}},
		{"x", map[string]any{"path": "/srv/x", "owner": "0", "group": json.Number("0")},
			[][]string{{"File[/srv]", "File[/]"}}},
		{"/l", map[string]any{"ensure": "link", "target": "/opt/app/"}, [][]string{{"File[/]"}, {"File[/opt/app]"}}},
		{"/l", map[string]any{"ensure": "/opt/app"}, [][]string{{"File[/]"}, {"File[/opt/app]"}}},
		{"/l", map[string]any{"ensure": "link", "target": "relative"}, [][]string{{"File[/]"}}},
	}
	for _, c := range cases {
		r := &catalog.Resource{Type: "File", Title: c.title, Parameters: c.params}
		got := refStrings(natives["File"].Autorequire(newParams(r)))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %v: got %q, want %q", c.title, c.params, got, c.want)
		}
	}
}

// TestFileRecurseLinks checks what Translate tells a recursing File: the paths
// below it that other resources manage (a File, a Concat_file's generated File;
// an exported one, which is in a node's catalog only when the node collects it
// itself; not itself, not a sibling whose name merely starts the same), and the
// containment its children's log lines name.
func TestFileRecurseLinks(t *testing.T) {
	file := func(title string, params map[string]any) catalog.Resource {
		return catalog.Resource{Type: "File", Title: title, Kind: "compilable_type", Parameters: params}
	}
	exported := file("/d/exported", nil)
	exported.Exported = true
	c := &catalog.Catalog{
		Name: "n", Environment: "production",
		Resources: []catalog.Resource{
			{Type: "Stage", Title: "main"},
			{Type: "Class", Title: "Web", Kind: "class"},
			file("/d", map[string]any{"ensure": "directory", "recurse": true, "purge": true}),
			file("/d/explicit", map[string]any{"content": "x"}),
			file("sub", map[string]any{"path": "/d/sub/"}),
			file("/d/sub/deeper", nil),
			file("/d-sibling", nil),
			file("/other", nil),
			exported,
			{Type: "Concat_file", Title: "/d/concat", Kind: "compilable_type"},
		},
		Edges: []catalog.Edge{
			{Source: "Stage[main]", Target: "Class[Web]"},
			{Source: "Class[Web]", Target: "File[/d]"},
		},
	}
	res, err := Translate(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Graph.Vertex("File[/d]").Resource.(*resources.File)
	want := []string{"/d/concat", "/d/explicit", "/d/exported", "/d/sub", "/d/sub/deeper"}
	if !reflect.DeepEqual(f.Managed, want) {
		t.Errorf("Managed %q, want %q", f.Managed, want)
	}
	if f.LogContainer != "/Stage[main]/Web" {
		t.Errorf("LogContainer %q", f.LogContainer)
	}
	if g := res.Graph.Vertex("File[/other]").Resource.(*resources.File); g.Managed != nil || g.LogContainer != "" {
		t.Errorf("a File that does not recurse got %q %q", g.Managed, g.LogContainer)
	}
}
