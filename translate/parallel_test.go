package translate

import (
	"bytes"
	"encoding/json"
	"reflect"
	"runtime"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/fixtures/synth"
)

// TestParallelBuild: a catalog large enough to be built on every CPU gives the
// same graph, the same problems in the same order and the same warnings as one
// built on one, and the race detector (make test) watches the goroutines.
func TestParallelBuild(t *testing.T) {
	var buf bytes.Buffer
	if err := synth.Write(&buf, synth.Options{Root: "/srv/synth", Files: 3 * parallelBuild, Chains: 20, ChainLength: 10}); err != nil {
		t.Fatal(err)
	}
	translateWith := func(procs int) (*Result, error) {
		t.Helper()
		c, err := catalog.Parse(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		// Problems spread over the catalog, in blocks built by different goroutines.
		bad := 0
		for i := range c.Resources {
			r := &c.Resources[i]
			if r.Type != "File" || i%(buildBlock+7) != 3 {
				continue
			}
			switch bad % 3 {
			case 0:
				r.Parameters["mode"] = "rwx"
			case 1:
				r.Parameters["frobnicate"] = true
			default:
				r.Parameters["checksum"] = json.Number("5")
			}
			bad++
		}
		if bad < 10 {
			t.Fatalf("only %d resources made bad", bad)
		}
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		return Translate(c, Options{Consume: true, Final: true})
	}
	one, errOne := translateWith(1)
	many, errMany := translateWith(4)
	if errOne == nil {
		t.Fatal("no problems found")
	}
	if !reflect.DeepEqual(errOne, errMany) {
		t.Errorf("problems differ:\n1 CPU: %v\n4 CPUs: %v", errOne, errMany)
	}
	if !reflect.DeepEqual(one.Warnings, many.Warnings) {
		t.Errorf("warnings differ:\n1 CPU: %q\n4 CPUs: %q", one.Warnings, many.Warnings)
	}
	if !reflect.DeepEqual(one.Graph.Edges(), many.Graph.Edges()) {
		t.Error("edges differ")
	}
	vOne, vMany := one.Graph.Vertices(), many.Graph.Vertices()
	if len(vOne) != len(vMany) {
		t.Fatalf("%d vertices on 1 CPU, %d on 4", len(vOne), len(vMany))
	}
	for i := range vOne {
		if !reflect.DeepEqual(vOne[i].Resource, vMany[i].Resource) || vOne[i].Name != vMany[i].Name {
			t.Errorf("vertex %d: %s %+v on 1 CPU, %s %+v on 4", i, vOne[i].Name, vOne[i].Resource, vMany[i].Name, vMany[i].Resource)
		}
	}
}
