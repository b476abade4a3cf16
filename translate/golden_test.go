package translate

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/delegate"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden translates every testdata/<case>: its catalog.json, or, when the folder
// has a file named fixture, the real catalog fixtures/<case>/catalog.json, or, when
// it has a file named corpus, fixtures/corpus/<case without "corpus-">/catalog.json.
// The golden file holds the problems, the type counts, the vertices, the edges and
// the orderings added.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no test cases")
	}
	for _, dir := range dirs {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			continue
		}
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "catalog.json")
			if _, err := os.Stat(filepath.Join(dir, "fixture")); err == nil {
				path = filepath.Join("..", "fixtures", name, "catalog.json")
			}
			if _, err := os.Stat(filepath.Join(dir, "corpus")); err == nil {
				path = filepath.Join("..", "fixtures", "corpus", strings.TrimPrefix(name, "corpus-"), "catalog.json")
			}
			cat, err := catalog.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var opts Options
			if _, err := os.Stat(filepath.Join(dir, "delegate")); err == nil {
				// Types without a native implementation go to Puppet; which
				// types Puppet knows is not checked (it depends on the machine).
				opts.Delegate = delegate.NewRunner(delegate.Config{TypeDirs: []string{}})
			}
			got := dump(Translate(cat, opts))
			golden := filepath.Join(dir, "want.golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./translate -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("translation differs from %s (run with -update if intended):\n%s", golden, got)
			}

			// Consuming the catalog changes nothing of the result: the same
			// graph, and the same fingerprints.
			fresh, err := catalog.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			consume := opts
			consume.Consume = true
			res, err := Translate(fresh, consume)
			if got := dump(res, err); !bytes.Equal(got, want) {
				t.Errorf("with Consume, translation differs from %s:\n%s", golden, got)
			}
			plain, _ := Translate(cat, opts)
			for i, v := range plain.Graph.Vertices() {
				w := res.Graph.Vertices()[i]
				_, delegated := v.Resource.(*delegate.Resource)
				if w.Fingerprint != v.Fingerprint || !delegated && !reflect.DeepEqual(w.Resource, v.Resource) {
					t.Errorf("with Consume, %s differs: %+v, want %+v", v.Name, w.Resource, v.Resource)
				}
			}
		})
	}
}

func dump(res *Result, err error) []byte {
	var b bytes.Buffer
	var problems Problems
	if errors.As(err, &problems) {
		b.WriteString("problems:\n")
		for _, p := range problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	} else if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	if len(res.Warnings) > 0 {
		b.WriteString("warnings:\n")
		for _, w := range res.Warnings {
			fmt.Fprintf(&b, "  %s\n", w)
		}
	}
	b.WriteString("types:\n")
	for _, s := range res.Stats {
		fmt.Fprintf(&b, "  %s native=%d container=%d delegated=%d unsupported=%d\n", s.Type, s.Native, s.Container, s.Delegated, s.Unsupported)
	}
	b.WriteString("vertices:\n")
	for _, v := range res.Graph.Vertices() {
		if v.Relay {
			continue
		}
		m := v.Data.(*Meta)
		var flags []string
		if v.Resource == nil {
			flags = append(flags, "unsupported")
		}
		if _, ok := v.Resource.(*delegate.Resource); ok {
			flags = append(flags, "puppet")
		}
		if v.Skip {
			flags = append(flags, "skip")
		}
		if v.Noop {
			flags = append(flags, "noop")
		}
		if len(flags) > 0 {
			fmt.Fprintf(&b, "  %s (%s)\n", m.Path(), strings.Join(flags, ","))
		} else {
			fmt.Fprintf(&b, "  %s\n", m.Path())
		}
	}
	b.WriteString("edges:\n")
	for _, e := range res.Graph.Edges() {
		arrow := "->"
		switch {
		case e.Refresh:
			arrow = "~>"
		case e.Order:
			arrow = "=>"
		}
		fmt.Fprintf(&b, "  %s %s %s\n", e.From, arrow, e.To)
	}
	if len(res.Orderings) > 0 {
		b.WriteString("orderings:\n")
		for _, o := range res.Orderings {
			fmt.Fprintf(&b, "  %s => %s: %s\n", o.Before, o.After, o.Reason)
		}
	}
	return b.Bytes()
}
