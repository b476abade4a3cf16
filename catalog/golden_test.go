package catalog

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*/want.golden")

// goldenEnv is read by Deferred env() in testdata/deferred.
const goldenEnv = "MGMT_PUPPET_CATALOG_TEST"

// TestGolden parses every testdata/<case>/catalog.json and compares a text dump of the
// result, or the error, with testdata/<case>/want.golden.
func TestGolden(t *testing.T) {
	t.Setenv(goldenEnv, "from-env")
	dirs, err := filepath.Glob("testdata/*/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no testdata")
	}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var got string
			c, err := ReadFile(path)
			if err != nil {
				got = "error: " + err.Error() + "\n"
			} else {
				got = dump(c)
			}
			want := filepath.Join(dir, "want.golden")
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if string(b) != got {
				t.Errorf("%s differs; got:\n%s\nwant:\n%s", want, got, b)
			}
		})
	}
}

// dump renders c as stable text: parameters sorted, values typed.
func dump(c *Catalog) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nversion: %s\ncode_id: %s\ncatalog_uuid: %s\ncatalog_format: %d\nenvironment: %s\n",
		c.Name, c.Version, c.CodeID, c.CatalogUUID, c.CatalogFormat, c.Environment)
	fmt.Fprintf(&b, "tags: %s\nclasses: %s\n", strings.Join(c.Tags, " "), strings.Join(c.Classes, " "))
	for _, r := range c.Resources {
		fmt.Fprintf(&b, "resource %s kind=%s exported=%t", r.Ref(), r.Kind, r.Exported)
		if r.File != "" {
			fmt.Fprintf(&b, " at=%s:%d", r.File, r.Line)
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "  tags: %s\n", strings.Join(r.Tags, " "))
		if len(r.SensitiveParameters) > 0 {
			s := append([]string(nil), r.SensitiveParameters...)
			sort.Strings(s)
			fmt.Fprintf(&b, "  sensitive: %s\n", strings.Join(s, " "))
		}
		for _, k := range sortedKeys(r.Parameters) {
			fmt.Fprintf(&b, "  %s = %s\n", k, dumpValue(r.Parameters[k]))
		}
	}
	for _, e := range c.Edges {
		fmt.Fprintf(&b, "edge %s -> %s\n", e.Source, e.Target)
	}
	return b.String()
}

func dumpValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "undef"
	case string:
		return strconv.Quote(v)
	case json.Number:
		return "num:" + string(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = dumpValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		var parts []string
		for _, k := range sortedKeys(v) {
			parts = append(parts, strconv.Quote(k)+": "+dumpValue(v[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case Sensitive:
		return "Sensitive(" + dumpValue(v.Value) + ")"
	case Default:
		return "default"
	case Typed:
		if s, ok := v.Value.(string); ok {
			return v.Type + "(" + strconv.Quote(s) + ")"
		}
		return v.Type + dumpValue(v.Value)
	}
	return fmt.Sprintf("%T(%v)", v, v)
}
