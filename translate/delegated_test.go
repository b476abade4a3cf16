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
	withValidate := map[string]any{"content": "x", "validate_cmd": "/usr/bin/check %"}

	res, err := Translate(file(withValidate), Options{Delegate: runner})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Graph.Vertex("File[/etc/app.conf]").Resource.(*delegate.Resource); !ok {
		t.Errorf("File with validate_cmd is not run by Puppet")
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "parameter validate_cmd not supported natively yet: Puppet runs this resource") {
		t.Errorf("warnings %q", res.Warnings)
	}
	for _, s := range res.Stats {
		if s.Type == "File" && (s.Native != 0 || s.Delegated != 1) {
			t.Errorf("File counts %+v, want 1 delegated", s)
		}
	}

	if _, err := Translate(file(withValidate), Options{}); err == nil || !strings.Contains(err.Error(), "parameter validate_cmd is not supported yet") {
		t.Errorf("without Puppet: %v, want validate_cmd refused", err)
	}
	bad := map[string]any{"content": "x", "validate_cmd": "/usr/bin/check %", "mode": "rwx-nonsense"}
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
