package translate

import (
	"bytes"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/fixtures/synth"
)

// BenchmarkTranslateSynth translates the synthetic catalog of 100,000 files that
// the integration package's Scale rows apply, as `run` does without exported resources (Consume and Final set).
func BenchmarkTranslateSynth(b *testing.B) {
	var buf bytes.Buffer
	if err := synth.Write(&buf, synth.Options{Root: "/srv/synth", Files: 100_000}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c, err := catalog.Parse(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := Translate(c, Options{Consume: true, Final: true})
		if err != nil {
			b.Fatal(err)
		}
		if got := len(res.Graph.Vertices()); got < 100_000 {
			b.Fatalf("%d vertices", got)
		}
	}
}
