package catalog

import (
	"bytes"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// TestParallelDecode decodes large catalogs, well-formed and broken in many
// ways, with the arrays cut among decoders and in order: the catalogs and the
// errors must be the same.
func TestParallelDecode(t *testing.T) {
	defer func(old int) { parallelMin = old }(parallelMin)
	big := string(bigCatalog(6000))
	// nth replaces the n-th occurrence of old (counted from 1) with new.
	nth := func(s, old, new string, n int) string {
		at := -1
		for range n {
			i := strings.Index(s[at+1:], old)
			if i < 0 {
				t.Fatalf("no occurrence %d of %q", n, old)
			}
			at += 1 + i
		}
		return s[:at] + new + s[at+len(old):]
	}
	tricky := `"content":"a \"},{\" b \\\\","mode"`
	for _, tc := range []struct {
		name string
		data string
	}{
		{"well-formed", big},
		{"brackets and quotes in a string", nth(big, `"content":"key=`, tricky[:len(tricky)-6]+`key=`, 4000)},
		{"escaped quote at a string's end", nth(big, `"mode":"0644"`, `"mode":"0644\\\"\\"`, 3500)},
		{"a resource without a title", nth(big, `"title":"/srv/data/dir`, `"titel":"/srv/data/dir`, 4500)},
		{"two resources without a type", nth(nth(big, `{"type":"File"`, `{"typ":"File"`, 5900), `{"type":"File"`, `{"typ":"File"`, 100)},
		{"bad literal in a late resource", nth(big, `"exported":false`, `"exported":fals`, 5000)},
		{"bad literals in two runs", nth(nth(big, `"exported":false`, `"exported":fals`, 5000), `"exported":false`, `"exported":flase`, 20)},
		{"wrong type in a resource", nth(big, `"line":`, `"line":"x",`+`"l":`, 3333)},
		{"bracket closing the wrong kind", nth(big, `"backup":false}`, `"backup":false]`, 2500)},
		{"a separator missing", nth(big, `},{"type":"File"`, `} {"type":"File"`, 4200)},
		{"an element missing", nth(big, `},{"type":"File"`, `},,{"type":"File"`, 4200)},
		{"a number for a resource", nth(big, `,{"type":"File"`, `,42,{"type":"File"`, 3000)},
		{"a string for an edge", nth(big, `,{"source":"Class[main]"`, `,"edge",{"source":"Class[main]"`, 5000)},
		{"an edge without a target", nth(big, `"target":"File[`, `"targe":"File[`, 5999)},
		{"a control character", nth(big, `key=`, "key=\x01", 4100)},
		{"cut short in the resources", big[:len(big)/3]},
		{"cut short in the edges", big[:len(big)-500]},
		{"nothing after the last resource", nth(big, `}],"edges"`, `},],"edges"`, 1)},
		{"empty arrays", big[:strings.Index(big, `"resources":[`)] + `"resources":[],"edges":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if runtime.GOMAXPROCS(0) < 2 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
			}
			parallelMin = 64 << 10 // both arrays of big are larger
			arrays := parallelArrays.Load()
			par, parErr := Parse(strings.NewReader(tc.data))
			if got := parallelArrays.Load() - arrays; tc.name == "well-formed" && got != 2 {
				t.Fatalf("%d arrays decoded in parallel, want 2", got)
			}
			parallelMin = math.MaxInt
			seq, seqErr := Parse(strings.NewReader(tc.data))
			if (parErr == nil) != (seqErr == nil) || parErr != nil && parErr.Error() != seqErr.Error() {
				t.Fatalf("in parallel: %v\nin order:    %v", parErr, seqErr)
			}
			if !reflect.DeepEqual(par, seq) {
				t.Fatal("the catalogs differ")
			}
		})
	}
}

// TestScanArray checks the scan that cuts arrays against what it must refuse.
func TestScanArray(t *testing.T) {
	for _, tc := range []struct {
		in     string
		starts []int
		ok     bool
	}{
		{`[1, "a,]", {"b":[1,{}]} , true]x`, []int{1, 4, 11, 26}, true},
		{`["\\", "\"]"]`, []int{1, 7}, true},
		{`[]`, nil, false},
		{`[1,]`, nil, false},
		{`[,1]`, nil, false},
		{`[{"a":1}`, nil, false},
		{`[{"a":"1}]`, nil, false},
		{`[{} {}]`, nil, false},
	} {
		starts, end, ok := scanArray([]byte(tc.in), 0)
		if ok != tc.ok || !reflect.DeepEqual(starts, tc.starts) {
			t.Errorf("scanArray(%s) = %v, %v, want %v, %v", tc.in, starts, ok, tc.starts, tc.ok)
		}
		if ok && !bytes.HasSuffix([]byte(tc.in[:end]), []byte("]")) {
			t.Errorf("scanArray(%s) ends at %d", tc.in, end)
		}
	}
}
