package translate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
)

// FuzzTranslate parses and translates arbitrary catalogs, seeded with the test
// cases and the real fixture catalogs: it must never panic or hang, a catalog it
// accepts must give an acyclic graph whose every evaluated vertex has a resource,
// and a catalog it rejects must say why in non-empty problems.
func FuzzTranslate(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/catalog.json")
	fixtures, _ := filepath.Glob("../fixtures/*/catalog.json")
	for _, p := range append(seeds, fixtures...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 64<<10 { // the 1000-file fixture only slows the fuzzer down
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cat, err := catalog.Parse(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		res, err := Translate(cat, Options{})
		if err != nil {
			var problems Problems
			if !errors.As(err, &problems) || len(problems) == 0 {
				t.Fatalf("rejected with %T %v, want Problems", err, err)
			}
			for _, p := range problems {
				if strings.TrimSpace(p) == "" {
					t.Fatal("an empty problem")
				}
			}
			return
		}
		if c := res.Graph.Cycles(); len(c) > 0 {
			t.Fatalf("accepted a catalog whose graph has cycles: %v", c)
		}
		for _, v := range res.Graph.Vertices() {
			if !v.Skip && !v.Relay && v.Resource == nil {
				t.Fatalf("%s: accepted without a resource", v.Name)
			}
		}
	})
}
