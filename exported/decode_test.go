package exported

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// oldDecodeResource is the encoding/json decoding decodeResource replaces, kept as
// the reference it must agree with.
func oldDecodeResource(data []byte) (Resource, error) {
	var r Resource
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(&r)
	return r, err
}

// decodeCases are stored exports as ReplaceCatalog writes them, and some it never
// writes.
func decodeCases(t testing.TB) [][]byte {
	file, line := "/etc/puppet/code/site.pp", 12
	stored := []Resource{
		{Certname: "a.example", Type: "File", Title: "/srv/a", Tags: []string{"file", "class", "scale"}, File: &file, Line: &line,
			Resource: resourceHash("File", "/srv/a"), Environment: "production", Exported: true,
			Parameters: map[string]any{"ensure": "file", "content": "a\n\t\"quoted\" \u00e9 \U0001F600 <&>", "mode": "0644"}},
		{Certname: "b.example", Type: "Sshkey", Title: "b", Tags: []string{}, Exported: true,
			Parameters: map[string]any{"port": json.Number("22"), "ratio": json.Number("-1.5e3"), "list": []any{"x", json.Number("1"), nil, true, false},
				"nested": map[string]any{"a": map[string]any{"b": []any{}}, "empty": map[string]any{}}}},
		{Certname: "c.example", Type: "Host", Title: "c", Parameters: map[string]any{}},
		{Certname: "d.example", Type: "Host", Title: "d"},
	}
	var out [][]byte
	for _, r := range stored {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	for _, raw := range []string{
		`{"certname":"x","type":"File","title":"t","line":null,"file":null,"tags":null,"parameters":null,"extra":[1,{"a":2}]}`,
		` {"certname" : "x" , "exported" : true } `,
		`{"title":"\u00e9\ud83d\ude00\/\\"}`,
	} {
		out = append(out, []byte(raw))
	}
	return out
}

// decodeResource reads every stored export as encoding/json does, and refuses
// what encoding/json refuses.
func TestDecodeResourceMatchesEncodingJSON(t *testing.T) {
	for _, data := range decodeCases(t) {
		want, err := oldDecodeResource(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		got, err := decodeResource(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", data, got, want)
		}
	}
	for _, bad := range []string{
		``, `[]`, `"x"`, `{"certname":1}`, `{"tags":"x"}`, `{"tags":[1]}`, `{"line":"1"}`, `{"line":1.5}`,
		`{"exported":"yes"}`, `{"parameters":[]}`, `{"file":3}`, `{"certname":"x"`, `{"certname":"x"} x`,
	} {
		if _, err := oldDecodeResource([]byte(bad)); err == nil && bad != `{"certname":"x"} x` {
			t.Fatalf("encoding/json takes %s", bad)
		}
		if r, err := decodeResource([]byte(bad)); err == nil {
			t.Errorf("%s decoded as %+v, want an error", bad, r)
		}
	}
}

func BenchmarkDecodeResource(b *testing.B) {
	data := decodeCases(b)[0]
	for _, c := range []struct {
		name   string
		decode func([]byte) (Resource, error)
	}{{"encoding-json", oldDecodeResource}, {"catalog", decodeResource}} {
		b.Run("decoder="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
