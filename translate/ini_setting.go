package translate

import (
	"path"
	"regexp"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// puppetlabs-inifile's Ini_setting (Debian's puppet-module-puppetlabs-inifile).
// It autorequires the File of its file's directory, when managed.
func init() {
	register("Ini_setting", Native{
		Namevar: "name",
		Build:   buildIniSetting,
		Autorequire: func(p *Params) [][]Ref {
			v, _ := p.Raw("path")
			if s, ok := v.(string); ok && strings.HasPrefix(s, "/") {
				// Ruby's Pathname#parent: a trailing slash does not count.
				return [][]Ref{{{"File", canonicalPath(path.Dir(canonicalPath(s)))}}}
			}
			return nil
		},
		Redactable: []string{"ensure", "value"},
	})
}

func buildIniSetting(p *Params) engine.Resource {
	p.Namevar("name")
	s := &resources.IniSetting{
		Path:            p.String("path", ""),
		Section:         p.String("section", ""),
		Absent:          ensureAbsent(p),
		ForceNewSection: p.Bool("force_new_section_creation", true),
		Separator:       p.String("key_val_separator", " = "),
		SectionPrefix:   p.String("section_prefix", "["),
		SectionSuffix:   p.String("section_suffix", "]"),
		IndentChar:      p.String("indent_char", " "),
		Refreshonly:     p.Bool("refreshonly", false),
		ShowDiff:        "true",
		Sensitive:       p.Sensitive("value"),
	}
	if s.Path == "" {
		// Puppet fails the resource when it is applied, not the catalog.
		p.Unsupportedf("path", "unset")
	}
	if v, ok := p.Raw("section"); ok {
		if _, isString := v.(string); !isString {
			// Puppet keeps a number as it is, and never finds it in the file.
			p.Unsupportedf("section", "%s", describe(v))
		}
	}
	if v, ok := p.Raw("setting"); ok {
		// The type's munge fails the whole run on a setting that is not a
		// string, and on one with spaces at a line's start or end: it means to
		// warn, through a method that is private (Puppet.warn).
		switch str, isString := v.(string); {
		case !isString:
			p.Errorf("setting", "undefined method `match?' for %s", describe(v))
		case iniSettingSpaces.MatchString(str):
			p.Errorf("setting", "private method `warn' called for Puppet:Module")
		default:
			s.Setting = &str
		}
	}
	if v, ok := p.Raw("value"); ok {
		str, isScalar := scalarString(v)
		switch {
		case !isScalar:
			p.Unsupportedf("value", "%s", describe(v))
		case s.Setting == nil:
			p.Unsupportedf("value", "set without a setting")
		}
		if _, isString := v.(string); isString {
			str = resources.RubyStrip(str) // as the type's munge
		}
		s.Value = &str
	}
	if v, ok := p.Raw("show_diff"); ok {
		switch v {
		case true, "true":
			s.ShowDiff = "true"
		case false, "false":
			s.ShowDiff = "false"
		case "md5":
			s.ShowDiff = "md5"
		default:
			p.Errorf("show_diff", `Invalid value %s. Valid values are true, md5, false.`, describe(v))
		}
	}
	if p.Has("indent_width") {
		n := rubyToI(p.String("indent_width", ""))
		if n < 0 {
			p.Unsupportedf("indent_width", "%d", n)
		}
		s.IndentWidth = &n
	}
	if !resources.IniSeparatorNative(s.Separator) {
		p.Unsupportedf("key_val_separator", "%q", s.Separator)
	}
	if s.Refreshonly && (s.Absent || !s.ForceNewSection) {
		p.Unsupportedf("refreshonly", "with ensure absent or force_new_section_creation false")
	}
	if v, ok := p.OptString("provider"); ok && v != "ruby" {
		p.Unsupportedf("provider", "%s", v)
	}
	return s
}

// iniSettingSpaces is the type's check of a setting's spaces, %r{(^\s|\s$)}:
// Ruby's ^ and $ match at every line's start and end.
var iniSettingSpaces = regexp.MustCompile("(?m)(^[\t\n\v\f\r ]|[\t\n\v\f\r ]$)")

// rubyToI is Ruby's String#to_i: the leading decimal digits (after blanks and a
// sign), 0 when there are none.
func rubyToI(s string) int {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n := 0
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}
