package catalog

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// bigCatalog renders a format 2 catalog of n File resources with a few parameters
// each, in the shape Puppet prints (one line, containment edges from Class[main]).
func bigCatalog(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 400)
	b.WriteString("\x1b[mNotice: Compiled catalog for big in environment production in 9.99 seconds\x1b[0m\n")
	b.WriteString(`{"tags":["settings","class"],"name":"big","version":1700000000,"code_id":null,"catalog_uuid":"00000000-0000-0000-0000-000000000000","catalog_format":2,"environment":"production","resources":[`)
	b.WriteString(`{"type":"Stage","title":"main","tags":["stage"],"exported":false,"kind":"compilable_type","parameters":{"name":"main"}},`)
	b.WriteString(`{"type":"Class","title":"main","tags":["class"],"exported":false,"kind":"unknown","parameters":{"name":"main"}}`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `,{"type":"File","title":"/srv/data/dir%03d/file%06d.conf","tags":["file","class","data"],"file":"/etc/puppetlabs/code/environments/production/manifests/site.pp","line":%d,"exported":false,"kind":"compilable_type","parameters":{"ensure":"file","content":"key=%d\nvalue=something fairly long to look like a real config line\n","mode":"0644","owner":"root","group":"root","require":["File[/srv/data/dir%03d]","Package[pkg%d]"],"backup":false}}`,
			i%1000, i, i%5000+1, i, i%1000, i%50)
	}
	b.WriteString(`],"edges":[{"source":"Stage[main]","target":"Class[main]"}`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `,{"source":"Class[main]","target":"File[/srv/data/dir%03d/file%06d.conf]"}`, i%1000, i)
	}
	b.WriteString(`],"classes":["settings"]}` + "\n")
	return b.Bytes()
}

func benchmarkParse(b *testing.B, n int, parse func(io.Reader) (*Catalog, error)) {
	data := bigCatalog(n)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c, err := parse(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Resources) != n+2 {
			b.Fatalf("got %d resources", len(c.Resources))
		}
	}
}

func BenchmarkParse10k(b *testing.B)  { benchmarkParse(b, 10_000, Parse) }
func BenchmarkParse100k(b *testing.B) { benchmarkParse(b, 100_000, Parse) }
