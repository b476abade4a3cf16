package resources

import (
	"errors"
	"regexp"
	"strings"
)

// iniFile is puppetlabs-inifile's Puppet::Util::IniFile (Debian's
// puppet-module-puppetlabs-inifile 5.4): a file's lines cut into sections, the
// settings read by its regular expressions, changed in place and written back as
// that code writes them, its quirks included (a section header that appears twice,
// a setting that appears twice in a section), since a site's files were shaped by
// it.
type iniFile struct {
	orig  string   // the content read
	lines []string // as read, each with its "\n" (the last may lack it)
	sep   string   // key_val_separator, as given
	// prefix and suffix frame a section's name in its header ("[", "]").
	prefix, suffix string
	indentChar     string
	indentWidth    *int // nil: the section's own indentation

	sectionRe, settingRe, commentedRe *regexp.Regexp

	names    []string // section names in file order, "" (global) first
	sections map[string]*iniSection
}

// iniSection is IniFile::Section. start and end are line numbers (end may go
// below start, even to -1, as the Ruby code's arithmetic takes it); noLine stands
// for Ruby's nil: a section that is not in the file yet has no lines.
type iniSection struct {
	name        string
	start, end  int
	existing    map[string]string // settings in the file, the last of a name winning
	added       []iniPair         // settings added at the section's end, in order
	indentation int               // the least indentation of its settings; -1 none
}

type iniPair struct{ key, value string }

// noLine is Ruby's nil as a section's start or end line.
const noLine = -1 << 40

// iniKVS is the separator as the regular expressions use it: a blank separator is
// one space, any other is stripped. Only the separators made of '=' and ':' are
// taken natively (the others are written into the expressions unescaped, and Go's
// expressions may read them differently from Ruby's); IniSeparatorNative says so.
func iniKVS(sep string) string {
	if strings.TrimSpace(sep) == "" && sep != "" {
		return " "
	}
	return RubyStrip(sep)
}

var iniNativeKVS = regexp.MustCompile(`^[=:]*$`)

// IniSeparatorNative reports whether sep's expressions mean in Go what they mean
// in Ruby.
func IniSeparatorNative(sep string) bool {
	k := iniKVS(sep)
	return k == " " || iniNativeKVS.MatchString(k)
}

// RubyStrip is Ruby's String#strip: ASCII whitespace and NUL.
func RubyStrip(s string) string {
	return strings.Trim(s, " \t\n\v\f\r\x00")
}

// iniSpace is what Ruby's \s matches, which Go's does not all match (\v); ws
// is it as a class.
const (
	iniSpace = `\t\n\v\f\r `
	ws       = `[` + iniSpace + `]`
)

// newIniFile parses content (nil: no file) with the given separator, section
// brackets and indentation.
func newIniFile(content []byte, sep, prefix, suffix, indentChar string, indentWidth *int) *iniFile {
	kvs := iniKVS(sep)
	f := &iniFile{
		sep: sep, prefix: prefix, suffix: suffix, indentChar: indentChar, indentWidth: indentWidth,
		sectionRe:   regexp.MustCompile(`^` + ws + `*` + regexp.QuoteMeta(prefix) + `(.*)` + regexp.QuoteMeta(suffix) + ws + `*$`),
		settingRe:   regexp.MustCompile(`^(` + ws + `*)([^#;` + iniSpace + `]|[^#;` + iniSpace + `].*?[^` + iniSpace + kvs + `])(` + ws + `*` + kvs + `[ \t]*)(.*)` + ws + `*$`),
		commentedRe: regexp.MustCompile(`^(` + ws + `*)[#;]+(` + ws + `*)(.*?[^` + iniSpace + kvs + `])(` + ws + `*` + kvs + `[ \t]*)(.*)` + ws + `*$`),
		sections:    map[string]*iniSection{},
	}
	if len(content) > 0 {
		f.orig = string(content)
		f.lines = readLines(f.orig)
	}
	f.parse()
	return f
}

func (f *iniFile) parse() {
	// The global section holds what comes before the first header; it is always
	// there, new (no lines) when the file starts with a header.
	i := 0
	f.add(f.readSection("", 0, &i))
	for i < len(f.lines) {
		if m := f.sectionRe.FindStringSubmatch(f.lines[i]); m != nil {
			start := i
			i++
			f.add(f.readSection(m[1], start, &i))
			continue
		}
		i++
	}
}

// readSection reads the lines from *next up to the next header.
func (f *iniFile) readSection(name string, start int, next *int) *iniSection {
	s := &iniSection{name: name, start: start, end: start, existing: map[string]string{}, indentation: -1}
	empty := true
	for ; *next < len(f.lines); *next++ {
		line := f.lines[*next]
		if f.sectionRe.MatchString(line) {
			break
		}
		if m := f.settingRe.FindStringSubmatch(line); m != nil {
			s.existing[m[2]] = m[4]
			if s.indentation < 0 || len(m[1]) < s.indentation {
				s.indentation = len(m[1])
			}
		}
		s.end = *next
		empty = false
	}
	if name == "" && empty {
		s.end = noLine
	}
	return s
}

// index is Ruby's Array index n of the lines: negative counts from the end; false
// where Ruby's lines[n] is nil.
func (f *iniFile) index(n int) (int, bool) {
	if n < 0 {
		n += len(f.lines)
	}
	return n, n >= 0 && n < len(f.lines)
}

// line is lines[n], "" where that is nil (which matches no expression).
func (f *iniFile) line(n int) string {
	if i, ok := f.index(n); ok {
		return f.lines[i]
	}
	return ""
}

func (f *iniFile) add(s *iniSection) {
	f.sections[s.name] = s
	f.names = append(f.names, s.name)
}

func (s *iniSection) global() bool     { return s.name == "" }
func (s *iniSection) newSection() bool { return s.end == noLine }

func (s *iniSection) empty() bool {
	if s.global() {
		return s.newSection()
	}
	return s.start == s.end
}

func (s *iniSection) value(setting string) (string, bool) {
	if v, ok := s.existing[setting]; ok {
		return v, true
	}
	for _, p := range s.added {
		if p.key == setting {
			return p.value, true
		}
	}
	return "", false
}

func (s *iniSection) shift(by int) {
	if s.start != noLine {
		s.start += by
	}
	if s.end != noLine {
		s.end += by
	}
}

func (f *iniFile) hasSection(name string) bool {
	_, ok := f.sections[name]
	return ok
}

// value is get_value: the setting's value, if its section and it exist.
func (f *iniFile) value(section, setting string) (string, bool) {
	s, ok := f.sections[section]
	if !ok {
		return "", false
	}
	return s.value(setting)
}

// sectionOf returns the section named name, added (with no lines yet) when the
// file does not have it.
func (f *iniFile) sectionOf(name string) *iniSection {
	s, ok := f.sections[name]
	if !ok {
		s = &iniSection{name: name, start: noLine, end: noLine, existing: map[string]string{}, indentation: -1}
		f.add(s)
	}
	return s
}

// setSection is set_value with a section only: the section is added if missing.
func (f *iniFile) setSection(name string) { f.sectionOf(name) }

// setValue is set_value(section, setting, separator, value): the setting's line
// changed where it is; else written after its commented-out line; else added at
// the section's end.
func (f *iniFile) setValue(section, setting, value string) {
	s := f.sectionOf(section)
	if _, ok := s.existing[setting]; ok {
		for n := s.start; n <= s.end; n++ {
			if m := f.settingRe.FindStringSubmatch(f.line(n)); m != nil && m[2] == setting {
				i, _ := f.index(n)
				f.lines[i] = m[1] + m[2] + m[3] + value
			}
		}
		s.existing[setting] = value
		return
	}
	if n, ok := f.commented(s, setting); ok {
		line := strings.Repeat(f.indentChar, f.indent(s)) + setting + f.sep + value
		// Ruby's lines.insert(n + 1, line), whose negative index counts from after
		// the last line.
		at := n + 1
		if at < 0 {
			at += len(f.lines) + 1
		}
		f.lines = append(f.lines[:at], append([]string{line}, f.lines[at:]...)...)
		s.existing[setting] = value
		if s.end != noLine {
			s.end++
		}
		f.shiftAfter(section, 1)
		return
	}
	for i, p := range s.added {
		if p.key == setting {
			s.added[i].value = value
			return
		}
	}
	s.added = append(s.added, iniPair{setting, value})
}

// commented finds the setting's commented-out line in the section.
func (f *iniFile) commented(s *iniSection, setting string) (int, bool) {
	if s.newSection() {
		return 0, false
	}
	for n := s.start; n <= s.end; n++ {
		if m := f.commentedRe.FindStringSubmatch(f.line(n)); m != nil && m[3] == setting {
			return n, true
		}
	}
	return 0, false
}

func (f *iniFile) indent(s *iniSection) int {
	switch {
	case f.indentWidth != nil:
		return *f.indentWidth
	case s.indentation >= 0:
		return s.indentation
	}
	return 0
}

// shiftAfter moves the lines of the sections after section (the first of that
// name) by by.
func (f *iniFile) shiftAfter(section string, by int) {
	for i, name := range f.names {
		if name == section {
			for _, after := range f.names[i+1:] {
				f.sections[after].shift(by)
			}
			return
		}
	}
}

// removeSetting is remove_setting: the setting's lines go, then the section if
// that left it empty.
func (f *iniFile) removeSetting(section, setting string) {
	s := f.sections[section]
	if _, ok := s.existing[setting]; !ok {
		return
	}
	// As the Ruby code does it: over the section's line numbers as they were,
	// while the lines move up under it.
	for n := s.start; n <= s.end; n++ {
		if m := f.settingRe.FindStringSubmatch(f.line(n)); m != nil && m[2] == setting {
			i, _ := f.index(n)
			f.lines = append(f.lines[:i], f.lines[i+1:]...)
		}
	}
	delete(s.existing, setting)
	if s.end != noLine {
		s.end--
	}
	f.shiftAfter(section, -1)
	if !s.empty() {
		return
	}
	if i, ok := f.index(s.start); ok {
		f.lines = append(f.lines[:i], f.lines[i+1:]...)
	}
	f.shiftAfter(section, -1)
	for i, name := range f.names {
		if name == section {
			f.names = append(f.names[:i], f.names[i+1:]...)
			break
		}
	}
	delete(f.sections, section)
}

var iniBlank = regexp.MustCompile(`^` + ws + `*$`)

// content is what save writes. A section header that appears twice, one of
// which a removal emptied, leaves the Ruby code a name without its section: it
// fails as that code fails.
func (f *iniFile) content() (string, error) {
	g := f.sections[""]
	globalEmpty := g.empty() && len(g.added) == 0
	var out []string
	for i, name := range f.names {
		s := f.sections[name]
		if s == nil {
			return "", errors.New("undefined method `new_section?' for nil:NilClass")
		}
		var blanks []string
		if s.newSection() && !s.global() {
			if i == 1 && !globalEmpty || i > 1 {
				out = puts(out, "")
			}
			out = puts(out, f.prefix+s.name+f.suffix)
		}
		if !s.newSection() {
			for n := s.start; n <= s.end; n++ {
				i, ok := f.index(n)
				if !ok {
					return "", errors.New("undefined method `match?' for nil:NilClass")
				}
				line := f.lines[i]
				if iniBlank.MatchString(line) {
					blanks = append(blanks, line)
					continue
				}
				for _, b := range blanks {
					out = puts(out, b)
				}
				blanks = blanks[:0]
				out = puts(out, line)
			}
		}
		for _, p := range s.added {
			out = puts(out, strings.Repeat(f.indentChar, f.indent(s))+p.key+f.sep+p.value)
		}
		if len(blanks) > 0 {
			for _, b := range blanks {
				out = puts(out, b)
			}
		} else if s.newSection() && len(s.added) > 0 && i < len(f.names)-1 {
			out = puts(out, "")
		}
	}
	return strings.Join(out, ""), nil
}
