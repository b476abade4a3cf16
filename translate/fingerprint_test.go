package translate

import (
	"encoding/json"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
)

// TestFingerprint checks that values Puppet tells apart have different
// fingerprints, and that the same state always has the same one.
func TestFingerprint(t *testing.T) {
	res := func(params map[string]any) *catalog.Resource {
		return &catalog.Resource{Type: "File", Title: "/x", Parameters: params}
	}
	distinct := []*catalog.Resource{

		res(map[string]any{}),
		res(map[string]any{"mode": "0644"}),
		res(map[string]any{"mode": "0640"}),
		res(map[string]any{"mode": json.Number("644")}),
		res(map[string]any{"mode": "644"}),
		res(map[string]any{"mode": nil}),
		res(map[string]any{"mode": true}),
		res(map[string]any{"mode": "true"}),
		res(map[string]any{"mode": false}),
		res(map[string]any{"a": []any{"b", "c"}}),
		res(map[string]any{"a": []any{"bc"}}),
		res(map[string]any{"a": []any{"b"}, "c": nil}),
		res(map[string]any{"a": []any{[]any{"b", "c"}}}),
		res(map[string]any{"a": map[string]any{"b": "c"}}),
		res(map[string]any{"a": map[string]any{"bc": ""}}),
		res(map[string]any{"ab": "c"}),
		res(map[string]any{"a": "bc"}),
		res(map[string]any{"content": catalog.Sensitive{Value: "s"}}),
		res(map[string]any{"content": "s"}),
		res(map[string]any{"content": catalog.Default{}}),
		res(map[string]any{"content": catalog.Typed{Type: "Timestamp", Value: "2026-12-02"}}),
		res(map[string]any{"content": catalog.Typed{Type: "SemVer", Value: "2026-12-02"}}),
		{Type: "File", Title: "/y"},
		{Type: "Filex", Title: "/"},
	}
	var f fingerprinter
	seen := map[string]int{}
	for i, r := range distinct {
		fp := f.sum(r)
		if j, dup := seen[fp]; dup {
			t.Errorf("resources %d and %d have the same fingerprint: %+v and %+v", j, i, distinct[j], r)
		}
		seen[fp] = i
	}

	// Map order never matters, nested or not; a reused fingerprinter gives what a
	// new one does.
	a := res(map[string]any{"a": "1", "b": map[string]any{"x": "1", "y": []any{"2"}, "z": nil}, "c": "3"})
	b := res(map[string]any{"c": "3", "b": map[string]any{"z": nil, "y": []any{"2"}, "x": "1"}, "a": "1"})
	want := f.sum(a)
	for i := 0; i < 20; i++ {
		var fresh fingerprinter
		if got := fresh.sum(b); got != want {
			t.Fatalf("same parameters in another map order: fingerprint %x, want %x", got, want)
		}
		if got := f.sum(b); got != want {
			t.Fatalf("reused fingerprinter: %x, want %x", got, want)
		}
	}
}

// refStrings renders autorequire groups as reference strings, nil staying nil,
// for comparison with a table.
func refStrings(groups [][]Ref) [][]string {
	if groups == nil {
		return nil
	}
	out := make([][]string, len(groups))
	for i, g := range groups {
		out[i] = []string{}
		for _, r := range g {
			out[i] = append(out[i], r.String())
		}
	}
	return out
}
