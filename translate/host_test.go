package translate

import (
	"reflect"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// TestHostTranslate: values as the resource receives them, and Puppet's validation
// reported against the resource and the parameter.
func TestHostTranslate(t *testing.T) {
	for _, tc := range []struct {
		name, title string
		params      map[string]any
		want        []string
	}{
		{"ok", "db.example", map[string]any{"ip": "10.0.0.5", "host_aliases": []any{"db", "database"}, "comment": "x"}, nil},
		{"ipv6", "v6.example", map[string]any{"ip": "fe80::1%eth0", "host_aliases": "v6"}, nil},
		{"trailing dot", "db.example.", map[string]any{"ip": "::1"}, nil},
		{"bad ip", "db.example", map[string]any{"ip": "10.0.0.256"},
			[]string{`Host[db.example]: parameter ip: Invalid IP address "10.0.0.256"`}},
		{"ip words", "db.example", map[string]any{"ip": "localhost"},
			[]string{`Host[db.example]: parameter ip: Invalid IP address "localhost"`}},
		{"ip newline", "db.example", map[string]any{"ip": "10.0.0.1\n"},
			[]string{`Host[db.example]: parameter ip: Invalid IP address "10.0.0.1\n"`}},
		{"name with space", "db example", map[string]any{"ip": "10.0.0.1"},
			[]string{"Host[db example]: parameter name: Invalid host name"}},
		{"name namevar", "db", map[string]any{"name": "-bad.example", "ip": "10.0.0.1"},
			[]string{"Host[db]: parameter name: Invalid host name"}},
		{"empty label", "db..example", map[string]any{"ip": "10.0.0.1"},
			[]string{"Host[db..example]: parameter name: Invalid host name"}},
		{"alias with space", "db.example", map[string]any{"ip": "10.0.0.1", "host_aliases": "db database"},
			[]string{"Host[db.example]: parameter host_aliases: Host aliases cannot include whitespace"}},
		{"empty alias", "db.example", map[string]any{"ip": "10.0.0.1", "host_aliases": []any{"db", ""}},
			[]string{"Host[db.example]: parameter host_aliases: Host aliases cannot be an empty string. Use an empty array to delete all host_aliases "}},
		{"comment newline", "db.example", map[string]any{"ip": "10.0.0.1", "comment": "a\nb"},
			[]string{"Host[db.example]: parameter comment: Comment cannot include newline"}},
		{"ensure", "db.example", map[string]any{"ensure": "latest"},
			[]string{`Host[db.example]: parameter ensure: Invalid value "latest". Valid values are present, absent.`}},
		{"relative target", "db.example", map[string]any{"ip": "10.0.0.1", "target": "hosts"},
			[]string{"Host[db.example]: parameter target: target must be an absolute path, not 'hosts'"}},
		{"provider", "db.example", map[string]any{"ip": "10.0.0.1", "provider": "netinfo"},
			[]string{"Host[db.example]: parameter provider: netinfo is not supported yet"}},
		{"several", "db example", map[string]any{"ip": "x", "host_aliases": []any{"a b"}},
			[]string{"Host[db example]: parameter name: Invalid host name",
				`Host[db example]: parameter ip: Invalid IP address "x"`,
				"Host[db example]: parameter host_aliases: Host aliases cannot include whitespace"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, p := buildNative(t, "Host", tc.title, tc.params)
			if got := errStrings(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	res, _ := buildNative(t, "Host", "db.example", map[string]any{"ip": "10.0.0.5", "host_aliases": []any{}})
	h := res.(*resources.Host)
	if h.Target != "/etc/hosts" || h.Aliases == nil || len(*h.Aliases) != 0 || h.Comment != nil || *h.IP != "10.0.0.5" {
		t.Errorf("defaults: %+v", h)
	}
	res, _ = buildNative(t, "Host", "db.example", map[string]any{"comment": "secret"}, "comment")
	if h := res.(*resources.Host); !h.Sensitive["comment"] {
		t.Errorf("sensitive comment not marked: %+v", h.Sensitive)
	}
}
