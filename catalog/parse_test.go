package catalog

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// wrap puts one resource's parameters into a minimal format 2 catalog.
func wrap(params string) string {
	return `{"name":"n","catalog_format":2,"resources":[{"type":"Notify","title":"t","tags":[],"exported":false,"parameters":` +
		params + `}],"edges":[],"classes":[]}`
}

func TestParseValues(t *testing.T) {
	t.Setenv("MGMT_PUPPET_CATALOG_TEST_VAR", "val")
	tests := []struct {
		name   string
		params string
		want   map[string]any
	}{
		{"scalars", `{"a":"s","b":1,"c":-2.5,"d":true,"e":null,"f":"0644"}`,
			map[string]any{"a": "s", "b": json.Number("1"), "c": json.Number("-2.5"), "d": true, "e": nil, "f": "0644"}},
		{"big int survives", `{"a":12345678901234567890}`, map[string]any{"a": json.Number("12345678901234567890")}},
		{"nested sensitive", `{"a":[{"__ptype":"Sensitive","__pvalue":"x"}]}`, map[string]any{"a": []any{Sensitive{Value: "x"}}}},
		{"default", `{"a":{"k":{"__ptype":"Default"}}}`, map[string]any{"a": map[string]any{"k": Default{}}}},
		{"hash non-string keys", `{"a":{"__ptype":"Hash","__pvalue":[1,"one",[1,2],"pair",true,{"__ptype":"Sensitive","__pvalue":"s"}]}}`,
			map[string]any{"a": map[string]any{"1": "one", "[1, 2]": "pair", "true": Sensitive{Value: "s"}}}},
		{"typed", `{"a":{"__ptype":"Timestamp","__pvalue":"2020-01-01T00:00:00.000000000 UTC"}}`,
			map[string]any{"a": Typed{Type: "Timestamp", Value: "2020-01-01T00:00:00.000000000 UTC"}}},
		{"symbol", `{"a":{"__ptype":"Symbol","__pvalue":"present"}}`, map[string]any{"a": "present"}},
		{"deferred sprintf", `{"a":{"__ptype":"Deferred","name":"sprintf","arguments":["%s=%d %.1f %x %o %%","k",7,2.25,255,8]}}`,
			map[string]any{"a": "k=7 2.2 ff 10 %"}},
		{"deferred nested", `{"a":{"__ptype":"Deferred","name":"join","arguments":[[{"__ptype":"Deferred","name":"upcase","arguments":["a"]},["b",[1]]],"-"]}}`,
			map[string]any{"a": "A-b-1"}},
		{"deferred split regexp", `{"a":{"__ptype":"Deferred","name":"split","arguments":["a1b22c",{"__ptype":"Regexp","__pvalue":"[0-9]+"}]}}`,
			map[string]any{"a": []any{"a", "b", "c"}}},
		{"deferred size", `{"a":{"__ptype":"Deferred","name":"size","arguments":[{"x":1,"y":2}]}}`, map[string]any{"a": json.Number("2")}},
		{"deferred values", `{"a":{"__ptype":"Deferred","name":"values","arguments":[{"y":2,"x":1}]}}`,
			map[string]any{"a": []any{json.Number("1"), json.Number("2")}}},
		{"deferred env", `{"a":{"__ptype":"Deferred","name":"env","arguments":["MGMT_PUPPET_CATALOG_TEST_VAR"]},"b":{"__ptype":"Deferred","name":"env","arguments":["MGMT_PUPPET_CATALOG_UNSET_VAR"]}}`,
			map[string]any{"a": "val", "b": nil}},
		{"deferred in sensitive", `{"a":[{"__ptype":"Sensitive","__pvalue":{"__ptype":"Deferred","name":"downcase","arguments":["X"]}}]}`,
			map[string]any{"a": []any{Sensitive{Value: "x"}}}},
		{"chomp strip capitalize", `{"a":[{"__ptype":"Deferred","name":"chomp","arguments":["x\n"]},{"__ptype":"Deferred","name":"strip","arguments":[[" a ",1]]},{"__ptype":"Deferred","name":"capitalize","arguments":["aBC"]}]}`,
			map[string]any{"a": []any{"x", []any{"a", json.Number("1")}, "Abc"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(wrap(tt.params)))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Resources[0].Parameters; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestTopLevelSensitiveIsUnwrapped(t *testing.T) {
	c, err := Parse(strings.NewReader(wrap(`{"a":{"__ptype":"Sensitive","__pvalue":"x"},"b":"y"}`)))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Resources[0]
	if r.Parameters["a"] != "x" || !r.IsSensitive("a") || r.IsSensitive("b") {
		t.Errorf("got %v sensitive %v", r.Parameters, r.SensitiveParameters)
	}
}

func TestParseHeader(t *testing.T) {
	in := "\x1b[mNotice: Compiled catalog for n in environment production in 0.25 seconds\x1b[0m\n" +
		`{"name":"n","version":"abc","code_id":null,"resources":[{"type":"Notify","title":7,"tags":["a"],"exported":true,"file":"/f.pp","line":3,"kind":"compilable_type"}],"edges":[{"source":"Class[main]","target":"Notify[7]"}]}` +
		"\n\n"
	c, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := &Catalog{
		Name: "n", Version: "abc", CatalogFormat: 1,
		Resources: []Resource{{Type: "Notify", Title: "7", Tags: []string{"a"}, Exported: true, File: "/f.pp", Line: 3, Kind: "compilable_type"}},
		Edges:     []Edge{{Source: "Class[main]", Target: "Notify[7]"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %#v\nwant %#v", c, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		wants []string // substrings of the error
	}{
		{"empty", "", []string{"no JSON object"}},
		{"notice only", "Notice: hi\n", []string{"no JSON object"}},
		{"truncated", `{"name":"n","resources":[`, []string{"end of input", "byte 25"}},
		{"bad token", "{\n  \"name\": nope}", []string{"malformed JSON", "line 2, column 11"}},
		{"trailing garbage", `{"name":"n"} x`, []string{"unexpected data after", "byte 13"}},
		{"second document", `{"name":"n"}{"name":"m"}`, []string{"unexpected data after"}},
		{"wrong type", `{"name":"n","resources":{}}`, []string{"resources: expected array, got object"}},
		{"title is object", `{"resources":[{"type":"File","title":{}}]}`, []string{"title: expected string or number, got object"}},
		{"format 3", `{"catalog_format":3}`, []string{"catalog_format 3 is not supported"}},
		{"missing title", `{"resources":[{"type":"File"},{"title":"x"}]}`,
			[]string{`resource 0 (type "File"): missing title`, `resource 1 (title "x"): missing type`}},
		{"unknown ptype", wrap(`{"p":{"__ptype":"Foo"}}`), []string{`Notify[t]: parameter p: unknown rich data type "Foo"`}},
		{"unknown function", wrap(`{"p":{"__ptype":"Deferred","name":"vault_lookup","arguments":["x"]},"q":[{"__ptype":"Deferred","name":"$facts"}]}`),
			[]string{
				`Notify[t]: parameter p: cannot resolve Deferred function "vault_lookup": not supported`,
				`Notify[t]: parameter q: cannot resolve Deferred function "$facts": not supported`,
			}},
		{"sprintf too few", wrap(`{"p":{"__ptype":"Deferred","name":"sprintf","arguments":["%s %s","a"]}}`), []string{"too few arguments"}},
		{"sprintf bad int", wrap(`{"p":{"__ptype":"Deferred","name":"sprintf","arguments":["%d","a"]}}`), []string{`invalid value for Integer(): "a"`}},
		{"bad hash", wrap(`{"p":{"__ptype":"Hash","__pvalue":[1]}}`), []string{"not a list of key/value pairs"}},
		{"wrapped bad type", `{"document_type":"Facts","data":{}}`, []string{`document_type "Facts"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestProblemsAreCollectedAndSorted(t *testing.T) {
	in := `{"resources":[
	{"type":"Notify","title":"b","parameters":{"m":{"__ptype":"Deferred","name":"vault_lookup"}}},
	{"type":"Notify","title":"a","parameters":{"m":{"__ptype":"Deferred","name":"vault_lookup"},"n":{"__ptype":"Nope"}}}]}`
	_, err := Parse(strings.NewReader(in))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	want := []string{
		`Notify[a]: parameter m: cannot resolve Deferred function "vault_lookup": not supported`,
		`Notify[a]: parameter n: unknown rich data type "Nope"`,
		`Notify[b]: parameter m: cannot resolve Deferred function "vault_lookup": not supported`,
	}
	if !reflect.DeepEqual(ve.Problems, want) {
		t.Errorf("got %q\nwant %q", ve.Problems, want)
	}
}

func TestReadFileStdin(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "cat")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"name":"stdin"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = old; f.Close() })
	c, err := ReadFile("-")
	if err != nil || c.Name != "stdin" {
		t.Fatalf("got %v, %v", c, err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("no error for a missing file")
	}
}

func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*/catalog.json")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(wrap(`{"a":{"__ptype":"Deferred","name":"sprintf","arguments":["%-+ 0#5.3x %c %e",1,"a",2]}}`)))
	f.Add([]byte(wrap(`{"a":{"__ptype":"Hash","__pvalue":[{"__ptype":"Default"},[{"__ptype":"Sensitive","__pvalue":null}]]}}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		if c == nil {
			t.Fatal("nil catalog without an error")
		}
		// Only valid JSON is accepted.
		if start := strings.IndexByte(string(data), '{'); !json.Valid(data[start:]) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
	})
}
