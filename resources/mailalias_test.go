package resources

import (
	"reflect"
	"testing"
)

// The aliases provider's lines: recipients split on commas outside quotes and
// unquoted, written back quoted where they hold anything but -+\w@.
func TestAliasLines(t *testing.T) {
	for _, tc := range []struct {
		in        string
		name      string
		recipient []string
		file      string
		out       string
	}{
		{in: "root: admin", name: "root", recipient: []string{"admin"}, out: "root: admin"},
		{in: "root:admin , b@example.com", name: "root", recipient: []string{"admin", "b@example.com"}, out: "root: admin,b@example.com"},
		{in: `pipe: "|/usr/bin/x y", 'q'`, name: "pipe", recipient: []string{"|/usr/bin/x y", "q"}, out: `pipe: "|/usr/bin/x y",q`},
		{in: `c: "a,b", d`, name: "c", recipient: []string{"a,b", "d"}, out: `c: "a,b",d`},
		{in: "list: :include: /etc/list", name: "list", file: "/etc/list", out: "list: :include: /etc/list"},
	} {
		r := parseAliasLine(tc.in)
		if r.name != tc.name || !reflect.DeepEqual(r.recipient, tc.recipient) || r.file != tc.file {
			t.Errorf("%q: parsed %+v", tc.in, r)
		}
		if out, err := r.line(); err != nil || out != tc.out {
			t.Errorf("%q: wrote %q (%v), want %q", tc.in, out, err, tc.out)
		}
	}
	if r := parseAliasLine("# comment"); r.record {
		t.Error("a comment parsed as a record")
	}
}
