package puppetconf

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// sectionNames are the sections puppet.conf may have (Puppet::Settings::ALLOWED_SECTION_NAMES).
var sectionNames = []string{"main", "server", "master", "agent", "user"}

// The lines of puppet.conf, as lib/puppet/settings/ini_file.rb matches them: Ruby's
// [[:word:]] is a letter, mark, decimal digit or connector, and \s takes \v too.
var (
	sectionLine = regexp.MustCompile(`^[\s\v]*\[([\pL\pM\p{Nd}\p{Pc}]+)\][\s\v]*$`)
	settingLine = regexp.MustCompile(`^[\s\v]*([\pL\pM\p{Nd}\p{Pc}]+)[\s\v]*=[\s\v]*(.*?)[\s\v]*$`)
	blankLine   = regexp.MustCompile(`^[\s\v]*(#|$)`)
)

// entry is one setting's value in puppet.conf or on the command line.
type entry struct {
	value string
	line  int // 0: the command line
}

// confFile is puppet.conf read: section -> setting -> entry.
type confFile map[string]map[string]entry

// parse reads puppet.conf as lib/puppet/settings/config_file.rb does. Lines before
// the first header are [main]'s; a section may come back, and then adds to itself;
// of two lines setting the same name in a section the first wins. Only lines
// starting with # are comments. Every problem is returned, with its line.
func parse(file, text string) (confFile, []error) {
	conf := confFile{"main": {}}
	var errs []error
	section := "main"
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r") // Ruby's chomp
		if m := sectionLine.FindStringSubmatch(line); m != nil {
			section = m[1]
			if !allowedSection(section) {
				errs = append(errs, fmt.Errorf("%s:%d: section [%s]: not one of %s", file, n, section, strings.Join(sectionNames, ", ")))
			}
			if conf[section] == nil {
				conf[section] = map[string]entry{}
			}
			continue
		}
		m := settingLine.FindStringSubmatch(line)
		if m == nil {
			if !blankLine.MatchString(line) {
				errs = append(errs, fmt.Errorf("%s:%d: cannot parse line %q", file, n, line))
			}
			continue
		}
		name, value := m[1], translate(m[2])
		value, err := stripMetadata(value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s %q: %w", file, n, name, m[2], err))
			continue
		}
		if _, seen := conf[section][name]; !seen {
			conf[section][name] = entry{value: value, line: n}
		}
	}
	return conf, errs
}

func allowedSection(name string) bool { return slices.Contains(sectionNames, name) }

// translate does to a value from puppet.conf or the command line what
// lib/puppet/settings/value_translator.rb does: true and false in any case are
// booleans, and one quote at each end is dropped.
func translate(v string) string {
	switch {
	case strings.EqualFold(v, "true"):
		return "true"
	case strings.EqualFold(v, "false"):
		return "false"
	}
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "'") {
		v = v[1:]
	}
	if strings.HasSuffix(v, `"`) || strings.HasSuffix(v, "'") {
		v = v[:len(v)-1]
	}
	return strings.TrimRight(v, " \t\r\n\f\v")
}

var (
	metadata      = regexp.MustCompile(`\{[\s\v]*([^}]+)[\s\v]*\}`)
	metadataComma = regexp.MustCompile(`[\s\v]*,[\s\v]*`)
	metadataParam = regexp.MustCompile(`^[\s\v]*(\w+)[\s\v]*=[\s\v]*(\w+)[\s\v]*$`)
	digits        = regexp.MustCompile(`^\d+$`)
)

// stripMetadata removes the {owner = service, group = service, mode = 0750} that
// Puppet allows after a path (config_file.rb's extract_fileinfo). Puppet looks for it
// in every value, not only paths, so a { } that is not such metadata, ${name}
// included, is an error there.
func stripMetadata(v string) (string, error) {
	loc := metadata.FindStringSubmatchIndex(v)
	if loc == nil {
		return v, nil
	}
	params := metadataComma.Split(v[loc[2]:loc[3]], -1)
	for len(params) > 0 && params[len(params)-1] == "" { // Ruby's split drops them
		params = params[:len(params)-1]
	}
	for _, p := range params {
		m := metadataParam.FindStringSubmatch(p)
		switch {
		case m == nil && loc[0] > 0 && v[loc[0]-1] == '$':
			return "", fmt.Errorf("puppet.conf reads %s as file metadata: write $%s", v[loc[0]:loc[1]], strings.TrimSpace(v[loc[2]:loc[3]]))
		case m == nil:
			return "", fmt.Errorf("cannot parse %q: file metadata is {owner = ..., group = ..., mode = ...}", v[loc[0]:loc[1]])
		case m[1] != "owner" && m[1] != "group" && m[1] != "mode":
			return "", fmt.Errorf("invalid file option %q: not owner, group or mode", m[1])
		case m[1] == "mode" && !digits.MatchString(m[2]):
			return "", fmt.Errorf("file mode %q: not a number", m[2])
		}
	}
	return strings.TrimRight(v[:loc[0]]+v[loc[1]:], " \t\r\n\f\v"), nil
}
