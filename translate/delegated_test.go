package translate

import (
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/delegate"
)

// TestParameterNotNativeYet: a resource of a native type using a parameter the
// native type does not have yet runs through Puppet when Puppet is there, with a
// warning; without Puppet the catalog is refused, naming the parameter. Bad values
// are refused either way, and concat's types are never handed over alone.
func TestParameterNotNativeYet(t *testing.T) {
	file := func(params map[string]any) *catalog.Catalog {
		return &catalog.Catalog{Name: "n", Environment: "production", Resources: []catalog.Resource{
			{Type: "File", Title: "/etc/app.conf", Kind: "compilable_type", Parameters: params},
		}}
	}
	runner := delegate.NewRunner(delegate.Config{TypeDirs: []string{}})
	withValidate := map[string]any{"content": "x", "source_permissions": "use"}

	res, err := Translate(file(withValidate), Options{Delegate: runner})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Graph.Vertex("File[/etc/app.conf]").Resource.(*delegate.Resource); !ok {
		t.Errorf("File with validate_cmd is not run by Puppet")
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "parameter source_permissions not supported natively yet: Puppet runs this resource") {
		t.Errorf("warnings %q", res.Warnings)
	}
	for _, s := range res.Stats {
		if s.Type == "File" && (s.Native != 0 || s.Delegated != 1) {
			t.Errorf("File counts %+v, want 1 delegated", s)
		}
	}

	if _, err := Translate(file(withValidate), Options{}); err == nil || !strings.Contains(err.Error(), "parameter source_permissions is not supported yet") {
		t.Errorf("without Puppet: %v, want source_permissions refused", err)
	}
	bad := map[string]any{"content": "x", "source_permissions": "use", "mode": "rwx-nonsense"}
	if _, err := Translate(file(bad), Options{Delegate: runner}); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Errorf("a bad mode with Puppet there: %v, want it refused", err)
	}
	frag := &catalog.Catalog{Name: "n", Environment: "production", Resources: []catalog.Resource{
		{Type: "Concat_fragment", Title: "f", Kind: "compilable_type",
			Parameters: map[string]any{"target": "/x", "content": "x", "unknown_param": "y"}},
	}}
	if _, err := Translate(frag, Options{Delegate: runner}); err == nil || !strings.Contains(err.Error(), "unknown_param") {
		t.Errorf("Concat_fragment with an unknown parameter: %v, want it refused rather than handed over alone", err)
	}
}

// TestNeverRefusedWithPuppet: what Puppet's Debian providers accept is run natively,
// ignored where the provider ignores it, or handed to Puppet with a warning; only
// without Puppet is it refused, naming the resource and the parameter (issue: a
// memcached catalog refused for hasstatus => false).
func TestNeverRefusedWithPuppet(t *testing.T) {
	runner := delegate.NewRunner(delegate.Config{TypeDirs: []string{}})
	for _, tc := range []struct {
		typ, title string
		params     map[string]any
		delegated  bool   // with Puppet: run by Puppet (else native)
		warning    string // with Puppet
		refused    string // without Puppet: "" when native
	}{
		// saz-memcached: Puppet's systemd provider never reads hasstatus.
		{typ: "Service", title: "memcached", params: map[string]any{"ensure": "running", "hasstatus": false}},
		{typ: "Service", title: "memcached", params: map[string]any{"ensure": "running", "pattern": "memcached", "binary": "/usr/bin/memcached"}},
		{typ: "Service", title: "ssh", params: map[string]any{"provider": "init"}, delegated: true,
			warning: "Service[ssh]: parameter provider: init not supported natively yet: Puppet runs this resource",
			refused: "Service[ssh]: parameter provider: init is not supported yet"},
		{typ: "Service", title: "ssh", params: map[string]any{"flags": "-x"}, delegated: true,
			warning: "Service[ssh]: parameter flags not supported natively yet",
			refused: "Service[ssh]: parameter flags is not supported yet"},
		{typ: "Package", title: "requests", params: map[string]any{"provider": "pip3"}, delegated: true,
			warning: "Package[requests]: parameter provider: pip3 not supported natively yet",
			refused: "Package[requests]: parameter provider: pip3 is not supported yet"},
		{typ: "Package", title: "ntp", params: map[string]any{"ensure": "held"}, delegated: true,
			refused: "Package[ntp]: parameter ensure: held is not supported yet"},
		{typ: "File", title: "/etc/x", params: map[string]any{"content": "x", "backup": "puppet"}, delegated: true,
			refused: `File[/etc/x]: parameter backup: filebucket "puppet" is not supported yet`},
		{typ: "User", title: "app", params: map[string]any{"provider": "ldap"}, delegated: true,
			refused: "User[app]: parameter provider: ldap is not supported yet"},
		// Sources only Puppet fetches: other hosts, http(s), and a mount of
		// fileserver.conf without an agent's copies of it.
		{typ: "File", title: "/etc/x", params: map[string]any{"source": "https://example.invalid/x"}, delegated: true,
			warning: "File[/etc/x]: parameter source: https://example.invalid/x not supported natively yet: Puppet runs this resource",
			refused: "File[/etc/x]: parameter source: https://example.invalid/x is not supported yet"},
		{typ: "File", title: "/etc/x", params: map[string]any{"source": []any{"puppet:///modules/m/x", "puppet://other/modules/m/x"}}, delegated: true,
			refused: "File[/etc/x]: parameter source: puppet://other/modules/m/x is not supported yet"},
		{typ: "File", title: "/etc/x", params: map[string]any{"source": "puppet:///site/x"}, delegated: true,
			refused: "File[/etc/x]: parameter source: puppet:///site/x is not supported yet"},
		{typ: "File", title: "/etc/x", params: map[string]any{"source": "puppet:///modules/m/x"}},
	} {
		t.Run(tc.typ+" "+strings.Join(sortedKeys(tc.params), ","), func(t *testing.T) {
			cat := &catalog.Catalog{Name: "n", Environment: "production", Resources: []catalog.Resource{
				{Type: tc.typ, Title: tc.title, Kind: "compilable_type", Parameters: tc.params},
			}}
			ref := tc.typ + "[" + tc.title + "]"
			res, err := Translate(cat, Options{Delegate: runner})
			if err != nil {
				t.Fatalf("with Puppet: %v", err)
			}
			_, delegated := res.Graph.Vertex(ref).Resource.(*delegate.Resource)
			if delegated != tc.delegated {
				t.Errorf("with Puppet: run by Puppet %v, want %v", delegated, tc.delegated)
			}
			if tc.warning != "" && (len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], tc.warning)) {
				t.Errorf("warnings %q, want one starting %q", res.Warnings, tc.warning)
			}
			_, err = Translate(cat, Options{})
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("without Puppet: %v, want it native", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Errorf("without Puppet: %v, want %q", err, tc.refused)
			}
		})
	}
}

func sortedKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return uniqSorted(out)
}

// TestSourceMountsNative: with an agent's copies of the server's mounts, a File
// sourcing one of them is native.
func TestSourceMountsNative(t *testing.T) {
	cat := &catalog.Catalog{Name: "n", Environment: "production", Resources: []catalog.Resource{
		{Type: "File", Title: "/etc/motd", Kind: "compilable_type", Parameters: map[string]any{"source": "puppet:///site/motd"}},
	}}
	runner := delegate.NewRunner(delegate.Config{TypeDirs: []string{}})
	res, err := Translate(cat, Options{Delegate: runner, Mounts: "/var/lib/puppet/mgmt-puppet/sources/production/.mounts"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Graph.Vertex("File[/etc/motd]").Resource.(*delegate.Resource); ok || len(res.Warnings) > 0 {
		t.Errorf("run by Puppet, warnings %q; want it native", res.Warnings)
	}
}
