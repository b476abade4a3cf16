package pql

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// goldenCase is one entry of testdata/golden.json, written by
// testdata/regen.sh from a real PuppetDB 7.12.1.
type goldenCase struct {
	Name   string          `json:"name"`
	Query  string          `json:"query"`
	Status int             `json:"status"`
	AST    json.RawMessage `json:"ast"`
	Error  string          `json:"error"`
}

func loadGolden(tb testing.TB) []goldenCase {
	tb.Helper()
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		tb.Fatalf("reading golden file: %v", err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		tb.Fatalf("decoding golden file: %v", err)
	}
	return cases
}

// pdbPosition finds the position in a PuppetDB "PQL parse error at line L,
// column C" message.
var pdbPosition = regexp.MustCompile(`PQL parse error at line (\d+), column (\d+)`)

func TestParseMatchesPuppetDB(t *testing.T) {
	cases := loadGolden(t)
	valid := 0
	for _, c := range cases {
		if c.Status == 200 {
			valid++
		}
	}
	if valid < 80 || len(cases)-valid < 20 {
		t.Fatalf("golden file has %d valid and %d invalid cases, want at least 80 and 20", valid, len(cases)-valid)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := Parse(c.Query)
			if c.Status == 200 {
				if err != nil {
					t.Fatalf("Parse(%q): %v\nPuppetDB: %s", c.Query, err, c.AST)
				}
				if !sameJSON(t, got, c.AST) {
					t.Fatalf("Parse(%q)\n got %s\nwant %s", c.Query, got, c.AST)
				}
				return
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) = %s, %v; want an *Error (PuppetDB: %d %s)", c.Query, got, err, c.Status, c.Error)
			}
			// Syntax errors must be found where PuppetDB finds them.
			if m := pdbPosition.FindStringSubmatch(c.Error); m != nil {
				line, _ := strconv.Atoi(m[1])
				col, _ := strconv.Atoi(m[2])
				if perr.Line != line || perr.Column != col {
					t.Errorf("Parse(%q) error at line %d, column %d; PuppetDB: line %d, column %d\n%v",
						c.Query, perr.Line, perr.Column, line, col, err)
				}
			}
		})
	}
}

// sameJSON reports whether two JSON documents are equal, telling integers
// from reals (1 is not 1.0) as PuppetDB does.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	return sameValue(decode(t, a), decode(t, b))
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return v
}

func sameValue(a, b any) bool {
	switch a := a.(type) {
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameValue(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		if !ok || isInteger(a) != isInteger(b) {
			return false
		}
		if isInteger(a) {
			return a == b
		}
		fa, errA := a.Float64()
		fb, errB := b.Float64()
		return errA == nil && errB == nil && fa == fb && math.Signbit(fa) == math.Signbit(fb)
	case map[string]any:
		return false // ASTs have no objects
	default:
		return a == b
	}
}

func isInteger(n json.Number) bool { return !strings.ContainsAny(string(n), ".eE") }

func TestParseErrors(t *testing.T) {
	tests := []struct {
		query        string
		line, column int
		offset       int
		contains     []string
	}{
		{"nodes { certname = 1 2 }", 1, 22, 21, []string{`"}"`, `"limit"`, `"or"`, "found \"2 }\""}},
		{"nodes {\n  certname ~ 1\n}", 2, 14, 21, []string{"expected string"}},
		{"nodes {", 1, 8, 7, []string{"found end of input"}},
		{"nodes[certname] { order by description }", 1, 28, 27, []string{`NOT "asc" | "desc"`}},
		{"nodes { certname = 9223372036854775808 }", 1, 20, 19, []string{"integer out of range"}},
		{`nodes { certname = "\q" }`, 1, 21, 20, []string{"unrecognized character escape"}},
		{`nodes { facts { name = "x" limit 1 } }`, 1, 9, 8, []string{"only one clause"}},
		{"é { }", 1, 1, 0, []string{"expected entity"}},
		{"nodes { certname = \"é\" x }", 1, 24, 24, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			_, err := Parse(tt.query)
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) error = %v, want an *Error", tt.query, err)
			}
			if perr.Line != tt.line || perr.Column != tt.column || perr.Offset != tt.offset {
				t.Errorf("Parse(%q) error at line %d, column %d, offset %d; want %d, %d, %d",
					tt.query, perr.Line, perr.Column, perr.Offset, tt.line, tt.column, tt.offset)
			}
			msg := err.Error()
			for _, want := range append([]string{"line", "column", "offset"}, tt.contains...) {
				if !strings.Contains(msg, want) {
					t.Errorf("Parse(%q) error %q does not mention %q", tt.query, msg, want)
				}
			}
		})
	}
}

// TestChain pins the shape PuppetDB gives to chains of or/and, measured
// for 1 to 13 items (see chain).
func TestChain(t *testing.T) {
	want := []string{
		"1",
		"(1 2)",
		"(1 2 3)",
		"(1 (2 3) 4)",
		"(1 (2 (3 4) 5))",
		"(1 2 (3 (4 5) 6))",
		"(1 (2 3) (4 (5 6) 7))",
		"(1 (2 (3 4) (5 (6 7) 8)))",
		"(1 2 (3 (4 5) (6 (7 8) 9)))",
		"(1 (2 3) (4 (5 6) (7 (8 9) 10)))",
		"(1 (2 (3 4) (5 (6 7) (8 (9 10) 11))))",
		"(1 2 (3 (4 5) (6 (7 8) (9 (10 11) 12))))",
		"(1 (2 3) (4 (5 6) (7 (8 9) (10 (11 12) 13))))",
	}
	for n, w := range want {
		items := make([]any, n+1)
		for i := range items {
			items[i] = strconv.Itoa(i + 1)
		}
		if got := sexp(chain("or", items)); got != w {
			t.Errorf("chain of %d = %s, want %s", n+1, got, w)
		}
	}
}

// sexp renders a chain compactly, without the operators.
func sexp(v any) string {
	l, ok := v.([]any)
	if !ok {
		return v.(string)
	}
	parts := make([]string, 0, len(l)-1)
	for _, e := range l[1:] {
		parts = append(parts, sexp(e))
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// TestParseLimits checks that hostile input fails fast instead of
// exhausting the stack or the CPU.
func TestParseLimits(t *testing.T) {
	const n = 1000
	long := strings.Repeat(`certname = "a" or `, 20000) + `certname = "b"`
	tests := []struct {
		name    string
		query   string
		wantErr string // "" for success
	}{
		{"nested parens", "nodes { " + strings.Repeat("(", n) + `certname = "a"` + strings.Repeat(")", n) + " }", "nested"},
		{"nested nots", "nodes { " + strings.Repeat("!", n) + `certname = "a" }`, "nested"},
		{"nested arrays", "nodes { certname = " + strings.Repeat("[", n) + "1" + strings.Repeat("]", n) + " }", "nested"},
		{"nested subqueries", strings.Repeat("nodes { resources { ", n/2) + strings.Repeat("} ", n), "nested"},
		{"unclosed parens", "nodes { " + strings.Repeat("(", 100000), "nested"},
		{"long chain", "nodes { " + long + " }", ""},
		{"many match segments", "inventory { facts" + strings.Repeat(".match(", 20000) + " = 1 }", ""},
		{"many quoted segments", "inventory { facts" + strings.Repeat(`."a`, 20000) + `" = 1 }`, ""},
		{"many dots", "inventory { facts" + strings.Repeat(".a", 50000) + " = 1 }", ""},
		{"many fields", "nodes[" + strings.Repeat("certname, ", 50000) + "certname] {}", ""},
		// Each field below first ends at the ')' inside the string, which
		// fails only after its condition, so each is parsed twice.
		{"backtracking", "inventory { " + strings.Repeat(`facts.match(a = "b) = 1" and `, 200) + "certname = 1 }", ""},
		{"backtracking then error", "inventory { " + strings.Repeat(`facts.match(a = "b) = 1" and `, 200) + "certname = }", "expected"},
		// Each item below parses two ways, and the query fails at its end:
		// 2^300 attempts, cut short by the work budget.
		{"exponential backtracking", "inventory[" + strings.Repeat("facts.match(a, count(x), ", 300) + "certname] {", "expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			ast, err := Parse(tt.query)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Parse took %v", d)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if !json.Valid(ast) {
					t.Fatalf("Parse returned invalid JSON")
				}
				return
			}
			var perr *Error
			if !errors.As(err, &perr) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want an *Error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range loadGolden(f) {
		f.Add(c.Query)
	}
	f.Add("inventory { facts.match(a.b).\"c d\".e[1] = 1 }")
	f.Add("nodes { " + strings.Repeat("(", 600) + " }")
	f.Add("nodes { certname = \"\xff\\u00e9\" }")
	f.Fuzz(func(t *testing.T, q string) {
		start := time.Now()
		ast, err := Parse(q)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Parse(%q) took %v", q, d)
		}
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) error %T %v, want *Error", q, err, err)
			}
			if perr.Error() == "" || perr.Offset < 0 || perr.Offset > len(q) || perr.Line < 1 || perr.Column < 1 {
				t.Fatalf("Parse(%q) bad error %+v", q, perr)
			}
			if ast != nil {
				t.Fatalf("Parse(%q) returned both %s and %v", q, ast, err)
			}
			return
		}
		var v []any
		if err := json.Unmarshal(ast, &v); err != nil {
			t.Fatalf("Parse(%q) = %s, invalid JSON: %v", q, ast, err)
		}
		if len(v) < 2 || v[0] != "from" {
			t.Fatalf("Parse(%q) = %s, want a from clause", q, ast)
		}
	})
}
