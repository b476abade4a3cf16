package catalog

// A catalog decoder built on github.com/tidwall/gjson, kept in a test file to measure
// the hand-written decoder (decode.go) against it: same input handling, same
// jsonCatalog, same type checks, the same build(). See BenchmarkParseGJSON* and
// BenchmarkParseLiveHeap.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// parseGJSON does what parse does, with gjson in place of decoder.
func parseGJSON(data []byte) (*Catalog, error) {
	start := bytes.IndexByte(data, '{')
	if start < 0 {
		return nil, errors.New("catalog: no JSON object found in input")
	}
	// gjson does not validate while it reads; ValidBytes also rejects data after the
	// document. It does not say where the problem is.
	if !gjson.ValidBytes(data[start:]) {
		return nil, errors.New("catalog: malformed JSON")
	}
	// ParseBytes copies the input into one string; strings without escapes, keys
	// included, are slices of it, so the result keeps all of it alive.
	root := gjson.ParseBytes(data[start:])
	var (
		jc    jsonCatalog
		inner gjson.Result
	)
	if err := gjCatalog(root, &jc, &inner, 0); err != nil {
		return nil, err
	}
	if jc.DocumentType != "" || inner.Exists() {
		if jc.DocumentType != "Catalog" {
			return nil, fmt.Errorf("catalog: document_type %q, want \"Catalog\"", jc.DocumentType)
		}
		if !inner.Exists() {
			return nil, errors.New("catalog: document has no \"data\" object")
		}
		// The envelope counts as one level of nesting, as it does in decoder's first
		// pass over the whole document.
		jc = jsonCatalog{}
		if err := gjCatalog(inner, &jc, nil, 1); err != nil {
			return nil, err
		}
	}
	return build(&jc)
}

// parseGJSONFrom is Parse with parseGJSON, for benchmarks that mirror benchmarkParse.
func parseGJSONFrom(r io.Reader) (*Catalog, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, err
	}
	return parseGJSON(data)
}

// gjKind names the type of v for type errors, as decoder.kind does.
func gjKind(v gjson.Result) string {
	switch v.Type {
	case gjson.Null:
		return "null"
	case gjson.True, gjson.False:
		return "bool"
	case gjson.Number:
		return "number"
	case gjson.String:
		return "string"
	}
	if isObject(v) {
		return "object"
	}
	return "array"
}

func isObject(v gjson.Result) bool { return v.Type == gjson.JSON && v.Raw[0] == '{' }
func isArray(v gjson.Result) bool  { return v.Type == gjson.JSON && v.Raw[0] == '[' }

func gjTypeError(field, want string, v gjson.Result) error {
	return fmt.Errorf("catalog: malformed JSON: %s: expected %s, got %s", field, want, gjKind(v))
}

// forEach calls fn for each key and value of an object, or each element of an array,
// and stops at the first error.
func forEach(v gjson.Result, fn func(key, value gjson.Result) error) error {
	var err error
	v.ForEach(func(k, e gjson.Result) bool {
		err = fn(k, e)
		return err == nil
	})
	return err
}

func gjString(field string, v gjson.Result, dst *string) error {
	switch v.Type {
	case gjson.Null:
		return nil
	case gjson.String:
		*dst = v.Str
		return nil
	}
	return gjTypeError(field, "string", v)
}

func gjScalar(field string, v gjson.Result, dst *scalar) error {
	switch v.Type {
	case gjson.Null:
		*dst = scalar{}
		return nil
	case gjson.String:
		*dst = scalar{S: v.Str, Set: true}
		return nil
	case gjson.Number:
		*dst = scalar{S: v.Raw, Set: true}
		return nil
	}
	return gjTypeError(field, "string or number", v)
}

func gjInt(field string, v gjson.Result, dst *int) error {
	switch v.Type {
	case gjson.Null:
		return nil
	case gjson.Number:
		n, err := strconv.Atoi(v.Raw)
		if err != nil {
			return fmt.Errorf("catalog: malformed JSON: %s: expected integer, got %s", field, v.Raw)
		}
		*dst = n
		return nil
	}
	return gjTypeError(field, "integer", v)
}

func gjBool(field string, v gjson.Result, dst *bool) error {
	switch v.Type {
	case gjson.Null:
		return nil
	case gjson.True, gjson.False:
		*dst = v.Type == gjson.True
		return nil
	}
	return gjTypeError(field, "bool", v)
}

func gjStrings(field string, v gjson.Result, dst *[]string) error {
	if v.Type == gjson.Null {
		return nil
	}
	if !isArray(v) {
		return gjTypeError(field, "array", v)
	}
	out := []string{}
	err := forEach(v, func(_, e gjson.Result) error {
		var s string
		err := gjString(field+" element", e, &s)
		out = append(out, s)
		return err
	})
	*dst = out
	return err
}

// gjValue converts any JSON value; depth is the nesting of the containers around it,
// counted as decoder counts it.
func gjValue(v gjson.Result, depth int) (any, error) {
	switch v.Type {
	case gjson.Null:
		return nil, nil
	case gjson.True:
		return true, nil
	case gjson.False:
		return false, nil
	case gjson.Number:
		return json.Number(v.Raw), nil
	case gjson.String:
		return v.Str, nil
	}
	if depth+1 > maxDepth {
		return nil, fmt.Errorf("catalog: malformed JSON: nesting deeper than %d", maxDepth)
	}
	if isObject(v) {
		m := make(map[string]any)
		err := forEach(v, func(k, e gjson.Result) error {
			x, err := gjValue(e, depth+1)
			m[k.Str] = x
			return err
		})
		return m, err
	}
	a := []any{}
	err := forEach(v, func(_, e gjson.Result) error {
		x, err := gjValue(e, depth+1)
		a = append(a, x)
		return err
	})
	return a, err
}

// gjCatalog fills jc from the object v, at nesting depth; if inner is not nil, the
// "data" object of an envelope is stored there.
func gjCatalog(v gjson.Result, jc *jsonCatalog, inner *gjson.Result, depth int) error {
	if !isObject(v) {
		return gjTypeError("catalog", "object", v)
	}
	depth++
	return forEach(v, func(k, e gjson.Result) error {
		switch key := k.Str; key {
		case "document_type":
			return gjString(key, e, &jc.DocumentType)
		case "data":
			if e.Type == gjson.Null {
				return nil
			}
			if !isObject(e) {
				return gjTypeError(key, "object", e)
			}
			if inner != nil {
				*inner = e
			}
		case "tags":
			return gjStrings(key, e, &jc.Tags)
		case "name":
			return gjString(key, e, &jc.Name)
		case "version":
			return gjScalar(key, e, &jc.Version)
		case "code_id":
			return gjScalar(key, e, &jc.CodeID)
		case "catalog_uuid":
			return gjString(key, e, &jc.CatalogUUID)
		case "catalog_format":
			jc.CatalogFormat = new(int)
			return gjInt(key, e, jc.CatalogFormat)
		case "environment":
			return gjString(key, e, &jc.Environment)
		case "classes":
			return gjStrings(key, e, &jc.Classes)
		case "resources":
			if e.Type == gjson.Null {
				return nil
			}
			if !isArray(e) {
				return gjTypeError(key, "array", e)
			}
			// The same estimate as the hand-written decoder.
			jc.Resources = make([]Resource, 0, strings.Count(e.Raw, `"type":`))
			return forEach(e, func(_, re gjson.Result) error {
				jc.Resources = append(jc.Resources, Resource{})
				titled, err := gjResource(re, &jc.Resources[len(jc.Resources)-1], depth+1)
				if !titled {
					jc.untitled = append(jc.untitled, len(jc.Resources)-1)
				}
				return err
			})
		case "edges":
			if e.Type == gjson.Null {
				return nil
			}
			if !isArray(e) {
				return gjTypeError(key, "array", e)
			}
			jc.Edges = make([]jsonEdge, 0, 64)
			return forEach(e, func(_, ee gjson.Result) error {
				if !isObject(ee) {
					return gjTypeError("edge", "object", ee)
				}
				var edge jsonEdge
				err := forEach(ee, func(k, x gjson.Result) error {
					switch k.Str {
					case "source":
						return gjString("edge source", x, &edge.Source)
					case "target":
						return gjString("edge target", x, &edge.Target)
					}
					return nil
				})
				jc.Edges = append(jc.Edges, edge)
				return err
			})
		}
		return nil
	})
}

// gjResource fills r from the object v and reports whether it has a title.
func gjResource(v gjson.Result, r *Resource, depth int) (titled bool, err error) {
	if !isObject(v) {
		return true, gjTypeError("resource", "object", v)
	}
	depth++
	err = forEach(v, func(k, e gjson.Result) error {
		switch key := k.Str; key {
		case "type":
			return gjString(key, e, &r.Type)
		case "title":
			var title scalar
			err := gjScalar(key, e, &title)
			r.Title, titled = title.S, title.Set
			return err
		case "tags":
			return gjStrings(key, e, &r.Tags)
		case "exported":
			return gjBool(key, e, &r.Exported)
		case "file":
			return gjString(key, e, &r.File)
		case "line":
			return gjInt(key, e, &r.Line)
		case "kind":
			return gjString(key, e, &r.Kind)
		case "sensitive_parameters":
			return gjStrings(key, e, &r.SensitiveParameters)
		case "parameters":
			if e.Type == gjson.Null {
				return nil
			}
			if !isObject(e) {
				return gjTypeError(key, "object", e)
			}
			r.Parameters = make(map[string]any)
			return forEach(e, func(pk, pv gjson.Result) error {
				x, err := gjValue(pv, depth+1)
				r.Parameters[pk.Str] = x
				return err
			})
		}
		return nil
	})
	return titled, err
}

// gjsonCases are the inputs of the package's other tests (parse_test.go) and a few
// corners of their own.
var gjsonCases = []string{
	// TestParseValues
	wrap(`{"a":"s","b":1,"c":-2.5,"d":true,"e":null,"f":"0644"}`),
	wrap(`{"a":12345678901234567890}`),
	wrap(`{"a":[{"__ptype":"Sensitive","__pvalue":"x"}]}`),
	wrap(`{"a":{"k":{"__ptype":"Default"}}}`),
	wrap(`{"a":{"__ptype":"Hash","__pvalue":[1,"one",[1,2],"pair",true,{"__ptype":"Sensitive","__pvalue":"s"}]}}`),
	wrap(`{"a":{"__ptype":"Timestamp","__pvalue":"2020-01-01T00:00:00.000000000 UTC"}}`),
	wrap(`{"a":{"__ptype":"Symbol","__pvalue":"present"}}`),
	wrap(`{"a":{"__ptype":"Deferred","name":"sprintf","arguments":["%s=%d %.1f %x %o %%","k",7,2.25,255,8]}}`),
	wrap(`{"a":{"__ptype":"Deferred","name":"join","arguments":[[{"__ptype":"Deferred","name":"upcase","arguments":["a"]},["b",[1]]],"-"]}}`),
	wrap(`{"a":{"__ptype":"Deferred","name":"split","arguments":["a1b22c",{"__ptype":"Regexp","__pvalue":"[0-9]+"}]}}`),
	wrap(`{"a":{"__ptype":"Deferred","name":"size","arguments":[{"x":1,"y":2}]}}`),
	wrap(`{"a":{"__ptype":"Deferred","name":"values","arguments":[{"y":2,"x":1}]}}`),
	wrap(`{"a":{"__ptype":"Deferred","name":"env","arguments":["MGMT_PUPPET_CATALOG_TEST_VAR"]},"b":{"__ptype":"Deferred","name":"env","arguments":["MGMT_PUPPET_CATALOG_UNSET_VAR"]}}`),
	wrap(`{"a":[{"__ptype":"Sensitive","__pvalue":{"__ptype":"Deferred","name":"downcase","arguments":["X"]}}]}`),
	wrap(`{"a":[{"__ptype":"Deferred","name":"chomp","arguments":["x\n"]},{"__ptype":"Deferred","name":"strip","arguments":[[" a ",1]]},{"__ptype":"Deferred","name":"capitalize","arguments":["aBC"]}]}`),
	// TestTopLevelSensitiveIsUnwrapped
	wrap(`{"a":{"__ptype":"Sensitive","__pvalue":"x"},"b":"y"}`),
	// TestParseHeader
	"\x1b[mNotice: Compiled catalog for n in environment production in 0.25 seconds\x1b[0m\n" +
		`{"name":"n","version":"abc","code_id":null,"resources":[{"type":"Notify","title":7,"tags":["a"],"exported":true,"file":"/f.pp","line":3,"kind":"compilable_type"}],"edges":[{"source":"Class[main]","target":"Notify[7]"}]}` +
		"\n\n",
	// TestParseErrors
	"",
	"Notice: hi\n",
	`{"name":"n","resources":[`,
	"{\n  \"name\": nope}",
	`{"name":"n"} x`,
	`{"name":"n"}{"name":"m"}`,
	`{"name":"n","resources":{}}`,
	`{"resources":[{"type":"File","title":{}}]}`,
	`{"catalog_format":3}`,
	`{"resources":[{"type":"File"},{"title":"x"}]}`,
	wrap(`{"p":{"__ptype":"Foo"}}`),
	wrap(`{"p":{"__ptype":"Deferred","name":"vault_lookup","arguments":["x"]},"q":[{"__ptype":"Deferred","name":"$facts"}]}`),
	wrap(`{"p":{"__ptype":"Deferred","name":"sprintf","arguments":["%s %s","a"]}}`),
	wrap(`{"p":{"__ptype":"Deferred","name":"sprintf","arguments":["%d","a"]}}`),
	wrap(`{"p":{"__ptype":"Hash","__pvalue":[1]}}`),
	`{"document_type":"Facts","data":{}}`,
	// TestProblemsAreCollectedAndSorted
	`{"resources":[
	{"type":"Notify","title":"b","parameters":{"m":{"__ptype":"Deferred","name":"vault_lookup"}}},
	{"type":"Notify","title":"a","parameters":{"m":{"__ptype":"Deferred","name":"vault_lookup"},"n":{"__ptype":"Nope"}}}]}`,
	// TestReadFileStdin
	`{"name":"stdin"}`,
	// FuzzParse seeds
	wrap(`{"a":{"__ptype":"Deferred","name":"sprintf","arguments":["%-+ 0#5.3x %c %e",1,"a",2]}}`),
	wrap(`{"a":{"__ptype":"Hash","__pvalue":[{"__ptype":"Default"},[{"__ptype":"Sensitive","__pvalue":null}]]}}`),

	// Corners: escapes and surrogates, in values and keys.
	wrap(`{"e":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20ac\ud83d\ude00","k\u00e9y":1}`),
	wrap(`{"lone high":"\ud83dx","lone low":"\ude00x","high high":"\ud83d\ud83d","high then bad":"\ud83d\u0041"}`),
	wrap(`{"bad escape":"\x"}`),
	wrap(`{"bad u":"\u12g4"}`),
	wrap("{\"ctl\":\"a\tb\"}"),
	// Numbers kept as written.
	wrap(`{"n":[0,-0,1.50,1e3,1E+3,-2.5e-3,100000000000000000000000]}`),
	wrap(`{"n":01}`),
	wrap(`{"n":1.}`),
	wrap(`{"n":-}`),
	wrap(`{"n":+1}`),
	// Nulls, empties and duplicate keys.
	`{"name":null,"tags":null,"version":null,"code_id":"x","catalog_format":null,"resources":null,"edges":null,"classes":null}`,
	`{"name":"n","tags":[],"classes":[],"resources":[],"edges":[]}`,
	`{"name":"n","tags":["a",null],"resources":[{"type":"A","title":"t","tags":null,"parameters":null,"sensitive_parameters":[]}]}`,
	`{"name":"a","name":"b","resources":[{"type":"A","title":"t","parameters":{"x":1,"x":2}}]}`,
	`{"catalog_format":1,"version":12}`,
	`{"catalog_format":2.5}`,
	`{"catalog_format":"2"}`,
	// Type errors.
	`{"name":5}`,
	`{"tags":"a"}`,
	`{"tags":[1]}`,
	`{"resources":[1]}`,
	`{"resources":[{"type":"A","title":"t","exported":"no"}]}`,
	`{"resources":[{"type":"A","title":"t","line":"3"}]}`,
	`{"resources":[{"type":"A","title":"t","parameters":[]}]}`,
	`{"edges":[1]}`,
	`{"edges":[{"source":1}]}`,
	`{"data":[]}`,
	// Envelopes.
	`{"document_type":"Catalog","data":{"name":"inner","resources":[{"type":"A","title":"t"}]},"name":"outer"}`,
	`{"document_type":"Catalog"}`,
	`{"document_type":"Catalog","data":null}`,
	`{"data":{"name":"x"}}`,
	`{"document_type":"Catalog","data":{"name":5}}`,
	`{"document_type":"Catalog","data":{"name":"x"},"tags":5}`,
	// Whitespace and literals.
	"  junk {\r\n\t\"name\" : \"n\" ,\n\"resources\" : [ { \"type\" : \"A\" , \"title\" : \"t\" , \"exported\" : true } ] }\n\t \r\n",
	`{"name":"n","x":tru}`,
	`{"name":"n","x":nul}`,
	`{"name":"n",}`,
	`{"name" "n"}`,
	`{"name":"n"`,
	`{"name":"n`,
	`{"resources":[{"type":"A","title":"t","parameters":{"a":[1,]}}]}`,
	// Nesting at the limit, and beyond it, in a parameter.
	nested(maxDepth - 4),
	nested(maxDepth - 3),
	`{"document_type":"Catalog","data":` + nested(maxDepth-5) + `}`,
	`{"document_type":"Catalog","data":` + nested(maxDepth-4) + `}`,
}

// gjsonDifferences are inputs that parse rejects and parseGJSON accepts: parseGJSON
// converts only the values it keeps, so nesting deeper than maxDepth goes unnoticed
// under a key that both ignore (decoder checks it while skipping). gjson.ValidBytes itself recurses without a limit.
var gjsonDifferences = []string{
	`{"x":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`,
	`{"resources":[{"type":"A","title":"t","x":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}]}`,
}

// nested is a catalog whose one parameter is n nested arrays.
func nested(n int) string {
	return wrap(`{"deep":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
}

// TestGJSONMatches checks that parseGJSON and parse give the same catalog, or both an
// error, for every catalog the package's tests use. Problems found by build must be
// the same; decode errors are worded differently (gjson gives no position).
func TestGJSONMatches(t *testing.T) {
	t.Setenv(goldenEnv, "from-env")
	t.Setenv("MGMT_PUPPET_CATALOG_TEST_VAR", "val")
	inputs := map[string][]byte{"bigCatalog(1000)": bigCatalog(1000)}
	paths, err := filepath.Glob("testdata/*/catalog.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		inputs[p] = b
	}
	for i, in := range gjsonCases {
		inputs[fmt.Sprintf("case %d", i)] = []byte(in)
	}
	for name, data := range inputs {
		want, werr := parse(data)
		got, gerr := parseGJSON(data)
		var wv, gv *ValidationError
		switch {
		case (werr == nil) != (gerr == nil):
			t.Errorf("%s: parse error %v, parseGJSON error %v", name, werr, gerr)
		case errors.As(werr, &wv) != errors.As(gerr, &gv):
			t.Errorf("%s: parse error %v, parseGJSON error %v", name, werr, gerr)
		case wv != nil && !reflect.DeepEqual(wv.Problems, gv.Problems):
			t.Errorf("%s: problems differ:\nparse      %q\nparseGJSON %q", name, wv.Problems, gv.Problems)
		case !reflect.DeepEqual(got, want):
			t.Errorf("%s: catalogs differ:\nparse      %#v\nparseGJSON %#v", name, want, got)
		}
	}
	for i, in := range gjsonDifferences {
		_, werr := parse([]byte(in))
		_, gerr := parseGJSON([]byte(in))
		if werr == nil || gerr != nil {
			t.Errorf("difference %d: expected parse to fail and parseGJSON not; got %v and %v", i, werr, gerr)
		}
	}
}

func BenchmarkParseGJSON10k(b *testing.B)  { benchmarkParse(b, 10_000, parseGJSONFrom) }
func BenchmarkParseGJSON100k(b *testing.B) { benchmarkParse(b, 100_000, parseGJSONFrom) }

// BenchmarkParseLiveHeap reports the heap kept alive by the result of parsing the
// 100k catalog once, with each decoder (live-MB).
func BenchmarkParseLiveHeap(b *testing.B) {
	data := bigCatalog(100_000)
	for _, d := range []struct {
		name  string
		parse func([]byte) (*Catalog, error)
	}{{"decoder=hand", parse}, {"decoder=gjson", parseGJSON}} {
		b.Run(d.name, func(b *testing.B) {
			var live uint64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				c, err := d.parse(data)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(c)
				live = after.HeapAlloc - before.HeapAlloc
			}
			b.ReportMetric(float64(live)/1e6, "live-MB")
		})
	}
	runtime.KeepAlive(data) // live through both, or the second would look smaller
}
