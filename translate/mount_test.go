package translate

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// TestMountTranslate: values as the resource receives them, and Puppet's
// validation messages (observed with mount_core) against the resource and the
// parameter.
func TestMountTranslate(t *testing.T) {
	for _, tc := range []struct {
		name, title string
		params      map[string]any
		want        []string
	}{
		{"ok", "/mnt/x", map[string]any{"ensure": "mounted", "device": "tmpfs", "fstype": "tmpfs", "options": "size=1m",
			"dump": json.Number("1"), "pass": "2", "atboot": "Yes", "blockdevice": "/dev/rdsk/x", "remounts": false}, nil},
		{"present", "/mnt/x", map[string]any{"ensure": "present", "fstype": "tmpfs"}, nil},
		{"dump 10 matches the unanchored pattern", "/mnt/x", map[string]any{"dump": json.Number("10")}, nil},
		{"ensure", "/mnt/x", map[string]any{"ensure": "bogus"},
			[]string{`Mount[/mnt/x]: parameter ensure: Invalid value "bogus". Valid values are defined, unmounted, absent, mounted.`}},
		{"dump number", "/mnt/x", map[string]any{"dump": json.Number("2")},
			[]string{"Mount[/mnt/x]: parameter dump: Invalid value 2. Valid values match /(0|1)/."}},
		{"dump string", "/mnt/x", map[string]any{"dump": "x"},
			[]string{`Mount[/mnt/x]: parameter dump: Invalid value "x". Valid values match /(0|1)/.`}},
		{"options", "/mnt/x", map[string]any{"options": "a b"},
			[]string{"Mount[/mnt/x]: parameter options: options must not contain whitespace: a b"}},
		{"empty options", "/mnt/x", map[string]any{"options": ""},
			[]string{"Mount[/mnt/x]: parameter options: options must not be an empty string"}},
		{"fstype", "/mnt/x", map[string]any{"fstype": "a b"},
			[]string{"Mount[/mnt/x]: parameter fstype: fstype must not contain whitespace: a b"}},
		{"empty fstype", "/mnt/x", map[string]any{"fstype": ""},
			[]string{"Mount[/mnt/x]: parameter fstype: fstype must not be an empty string"}},
		{"blockdevice", "/mnt/x", map[string]any{"blockdevice": "a b"},
			[]string{"Mount[/mnt/x]: parameter blockdevice: blockdevice must not contain whitespace: a b"}},
		{"atboot", "/mnt/x", map[string]any{"atboot": "maybe"},
			[]string{`Mount[/mnt/x]: parameter atboot: Munging failed for value "maybe" in class atboot: expected a boolean value`}},
		{"remounts", "/mnt/x", map[string]any{"remounts": "x"},
			[]string{`Mount[/mnt/x]: parameter remounts: Invalid value "x". Valid values are true, false.`}},
		{"relative target", "/mnt/x", map[string]any{"target": "fstab"},
			[]string{"Mount[/mnt/x]: parameter target: target must be an absolute path, not 'fstab'"}},
		{"provider", "/mnt/x", map[string]any{"provider": "aix"},
			[]string{"Mount[/mnt/x]: parameter provider: aix is not supported yet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, p := buildNative(t, "Mount", tc.title, tc.params)
			if got := errStrings(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors\n%q\nwant\n%q", got, tc.want)
			}
			if u := p.Unused(); u != nil {
				t.Errorf("unused: %v", u)
			}
		})
	}
	res, _ := buildNative(t, "Mount", "/mnt/x//", map[string]any{"ensure": "present", "fstype": "tmpfs", "dump": json.Number("1"), "pass": "2"})
	m := res.(*resources.Mount)
	want := &resources.Mount{Name: "/mnt/x", Ensure: "defined", Fstype: m.Fstype, Target: "/etc/fstab", Remounts: true,
		Dump: &resources.MountValue{Text: "1", Number: true}, Pass: &resources.MountValue{Text: "2"}}
	if *m.Fstype != "tmpfs" || !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v\nwant %+v", m, want)
	}
	// dump and pass default to 0 only when the mount is managed.
	res, _ = buildNative(t, "Mount", "/mnt/y", map[string]any{"device": "x"})
	if m := res.(*resources.Mount); m.Dump == nil || *m.Dump != (resources.MountValue{Text: "0", Number: true}) || m.Ensure != "" {
		t.Errorf("managed defaults: %+v", m)
	}
	res, _ = buildNative(t, "Mount", "/mnt/y", nil)
	if m := res.(*resources.Mount); m.Dump != nil || m.Pass != nil {
		t.Errorf("unmanaged: %+v", m)
	}
	res, _ = buildNative(t, "Mount", "/mnt/z", map[string]any{"options": "ro"}, "options")
	if m := res.(*resources.Mount); !m.Sensitive["options"] {
		t.Errorf("sensitive options not marked: %+v", m.Sensitive)
	}
}

func TestMountAutorequireAndName(t *testing.T) {
	for _, tc := range []struct {
		title  string
		params map[string]any
		want   [][]string
	}{
		{"/srv/data/cache/", nil, [][]string{{"Mount[/]"}, {"Mount[/srv]"}, {"Mount[/srv/data]"}}},
		{"cache", map[string]any{"name": "/srv"}, [][]string{{"Mount[/]"}}},
		{"/", nil, nil},
	} {
		r := &catalog.Resource{Type: "Mount", Title: tc.title, Parameters: tc.params}
		if got := refStrings(natives["Mount"].Autorequire(newParams(r))); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.title, got, tc.want)
		}
	}
	for in, want := range map[string]string{"/a/": "/a", "///": "/", "/": "/", "/a": "/a"} {
		if got := natives["Mount"].Canonical(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
