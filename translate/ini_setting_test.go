package translate

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// TestIniSettingTranslate: the type's defaults and munging, what fails the
// catalog as it fails Puppet's run, and what goes to Puppet.
func TestIniSettingTranslate(t *testing.T) {
	str := func(s string) *string { return &s }
	two := 2
	base := func(f func(*resources.IniSetting)) resources.IniSetting {
		s := resources.IniSetting{Path: "/etc/a.ini", Setting: str("k"), ForceNewSection: true, Separator: " = ",
			SectionPrefix: "[", SectionSuffix: "]", IndentChar: " ", ShowDiff: "true"}
		if f != nil {
			f(&s)
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   resources.IniSetting
		errs   []string
	}{
		{"defaults", nil, base(nil), nil},
		{"a number", map[string]any{"value": json.Number("8081")}, base(func(s *resources.IniSetting) { s.Value = str("8081") }), nil},
		{"padded", map[string]any{"value": " v \t"}, base(func(s *resources.IniSetting) { s.Value = str("v") }), nil},
		{"a boolean", map[string]any{"value": true}, base(func(s *resources.IniSetting) { s.Value = str("true") }), nil},
		{"everything", map[string]any{"section": "s", "ensure": "absent", "force_new_section_creation": "no",
			"key_val_separator": ": ", "section_prefix": "<", "section_suffix": ">", "indent_char": "\t", "indent_width": "2x",
			"show_diff": "md5", "refreshonly": false},
			base(func(s *resources.IniSetting) {
				s.Section, s.Absent, s.ForceNewSection, s.Separator = "s", true, false, ": "
				s.SectionPrefix, s.SectionSuffix, s.IndentChar, s.IndentWidth, s.ShowDiff = "<", ">", "\t", &two, "md5"
			}), nil},
		{"a section alone", map[string]any{"setting": nil}, base(func(s *resources.IniSetting) { s.Setting = nil }), nil},
		{"a setting that is a number", map[string]any{"setting": json.Number("2")}, base(func(s *resources.IniSetting) { s.Setting = nil }),
			[]string{"Ini_setting[x]: parameter setting: undefined method `match?' for \"2\""}},
		{"a setting with spaces", map[string]any{"setting": " k"}, base(func(s *resources.IniSetting) { s.Setting = nil }),
			[]string{"Ini_setting[x]: parameter setting: private method `warn' called for Puppet:Module"}},
		{"a setting with a space before a newline", map[string]any{"setting": "a \nb"}, base(func(s *resources.IniSetting) { s.Setting = nil }),
			[]string{"Ini_setting[x]: parameter setting: private method `warn' called for Puppet:Module"}},
		{"show_diff yes", map[string]any{"show_diff": "yes"}, base(nil),
			[]string{`Ini_setting[x]: parameter show_diff: Invalid value "yes". Valid values are true, md5, false.`}},
		{"a separator of other characters", map[string]any{"key_val_separator": " => "}, base(func(s *resources.IniSetting) { s.Separator = " => " }),
			[]string{`Ini_setting[x]: parameter key_val_separator: " => " is not supported yet`}},
		{"a section that is a number", map[string]any{"section": json.Number("1")}, base(func(s *resources.IniSetting) { s.Section = "1" }),
			[]string{`Ini_setting[x]: parameter section: "1" is not supported yet`}},
		{"refreshonly absent", map[string]any{"refreshonly": true, "ensure": "absent"}, base(func(s *resources.IniSetting) { s.Refreshonly, s.Absent = true, true }),
			[]string{`Ini_setting[x]: parameter refreshonly: with ensure absent or force_new_section_creation false is not supported yet`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]any{"path": "/etc/a.ini", "setting": "k"}
			for k, v := range tc.params {
				if v == nil {
					delete(params, k)
					continue
				}
				params[k] = v
			}
			res, p := buildNative(t, "Ini_setting", "x", params)
			if got := errStrings(p); !reflect.DeepEqual(got, tc.errs) {
				t.Errorf("errors\n%q\nwant\n%q", got, tc.errs)
			}
			if got := *res.(*resources.IniSetting); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
