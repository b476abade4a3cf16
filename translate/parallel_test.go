package translate

import (
	"bytes"
	"encoding/json"
	"reflect"
	"runtime"
	"strconv"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/fixtures/synth"
)

// TestParallelBuild: a catalog large enough to be translated on every CPU gives
// the same graph, the same problems in the same order and the same warnings as
// on one goroutine, and the race detector (make test) watches the goroutines.
func TestParallelBuild(t *testing.T) {
	var buf bytes.Buffer
	if err := synth.Write(&buf, synth.Options{Root: "/srv/synth", Files: 3 * parallelBuild, Chains: 20, ChainLength: 10}); err != nil {
		t.Fatal(err)
	}
	translateWith := func(procs int, serial bool) (*Result, error) {
		t.Helper()
		if serial {
			defer func(n int) { parallelBuild = n }(parallelBuild)
			parallelBuild = 1 << 30
		}
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
	serial, errSerial := translateWith(4, true)
	if errSerial == nil {
		t.Fatal("no problems found")
	}
	for _, procs := range []int{1, 4} {
		t.Run("cpus="+strconv.Itoa(procs), func(t *testing.T) {
			many, errMany := translateWith(procs, false)
			compareTranslations(t, serial, errSerial, many, errMany)
		})
	}
}

// compareTranslations fails t where the translation on many goroutines differs
// from the one on one.
func compareTranslations(t *testing.T, one *Result, errOne error, many *Result, errMany error) {
	t.Helper()
	if !reflect.DeepEqual(errOne, errMany) {
		t.Errorf("problems differ:\none goroutine: %v\nmany: %v", errOne, errMany)
	}
	if !reflect.DeepEqual(one.Warnings, many.Warnings) {
		t.Errorf("warnings differ:\none goroutine: %q\nmany: %q", one.Warnings, many.Warnings)
	}
	if !reflect.DeepEqual(one.Graph.Edges(), many.Graph.Edges()) {
		t.Error("edges differ")
	}
	vOne, vMany := one.Graph.Vertices(), many.Graph.Vertices()
	if len(vOne) != len(vMany) {
		t.Fatalf("%d vertices on one goroutine, %d on many", len(vOne), len(vMany))
	}
	for i := range vOne {
		a, b := vOne[i], vMany[i]
		if a.Name != b.Name || a.Skip != b.Skip || a.Noop != b.Noop || !reflect.DeepEqual(a.Data, b.Data) {
			t.Errorf("vertex %d: %s %+v on one goroutine, %s %+v on many", i, a.Name, a.Data, b.Name, b.Data)
		}
		if !reflect.DeepEqual(a.Resource, b.Resource) {
			t.Errorf("vertex %d: %s %+v on one goroutine, %s %+v on many", i, vOne[i].Name, vOne[i].Resource, vMany[i].Name, vMany[i].Resource)
		}
	}
}
