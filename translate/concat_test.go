package translate

import (
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
)

func TestConcatContent(t *testing.T) {
	frags := []*concatFragment{
		{name: "b", order: "10", content: "b10\n"},
		{name: "a", order: "9", content: "a9"},
		{name: "c", order: "01", content: "c01\n"},
		{name: "a", order: "10", content: "a10\n"},
	}
	for _, tc := range []struct {
		order   string
		newline bool
		want    string
	}{
		// alpha: orders compare as strings ("01" < "10" < "9").
		{"alpha", false, "c01\na10\nb10\na9"},
		// numeric: as numbers (1 < 9 < 10), names break ties.
		{"numeric", false, "c01\na9a10\nb10\n"},
		{"numeric", true, "c01\na9\na10\nb10\n"},
	} {
		if got := concatContent(frags, tc.order, tc.newline); got != tc.want {
			t.Errorf("order %s newline %v: %q, want %q", tc.order, tc.newline, got, tc.want)
		}
	}
}

// TestConcatDuplicatePath: two Concat_files of one path are refused for that
// alone, with no problem about edges to a File that was never added.
func TestConcatDuplicatePath(t *testing.T) {
	c := &catalog.Catalog{
		Name: "n", Environment: "production",
		Resources: []catalog.Resource{
			{Type: "Stage", Title: "main"},
			{Type: "Concat_file", Title: "a", Kind: "compilable_type", Parameters: map[string]any{"path": "/p"}},
			{Type: "Concat_file", Title: "b", Kind: "compilable_type", Parameters: map[string]any{"path": "/p"}},
		},
		Edges: []catalog.Edge{
			{Source: "Stage[main]", Target: "Concat_file[a]"},
			{Source: "Stage[main]", Target: "Concat_file[b]"},
		},
	}
	_, err := Translate(c, Options{})
	problems, ok := err.(Problems)
	if !ok || len(problems) == 0 {
		t.Fatalf("Translate: %v, want problems", err)
	}
	duplicate := false
	for _, p := range problems {
		if strings.Contains(p, "no vertex") {
			t.Errorf("problem about an edge: %s", p)
		}
		duplicate = duplicate || strings.Contains(p, "duplicate vertex File[/p]")
	}
	if !duplicate {
		t.Errorf("problems %q: none names the duplicate File[/p]", problems)
	}
}
