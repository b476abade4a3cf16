package puppetconf

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// layer is one place values come from, searched before the next: the command
// line, then the run mode's section(s), then [main].
type layer struct {
	file   string // "" for the command line
	values map[string]entry
}

// result is a setting's value once resolved.
type result struct {
	value  string
	none   bool // no value at all (a nil default)
	failed bool // its own error, or one of a setting it refers to, is reported
}

// resolver works out every setting's value as Puppet's ChainedValues does:
// look the raw value up, replace $name and ${name} by those settings' values,
// then check and normalize it for its kind.
type resolver struct {
	host    host
	root    bool
	section string
	layers  []layer
	done    map[string]result
	active  []frame // the settings being resolved, outermost first
	errs    []*valueError
}

// frame is a setting being resolved and where its raw value came from.
type frame struct {
	name string
	src  source
}

// valueError is a bad value, located where it was written.
type valueError struct {
	file  string // "" for the command line; "" with line -1 for a default
	line  int
	name  string
	value string
	err   error
}

func (e *valueError) Error() string {
	switch {
	case e.line < 0 && e.value == "":
		return fmt.Sprintf("%s: %v", e.name, e.err)
	case e.line < 0:
		return fmt.Sprintf("%s %q: %v", e.name, e.value, e.err)
	case e.file == "":
		return fmt.Sprintf("command line: %s %q: %v", e.name, e.value, e.err)
	}
	return fmt.Sprintf("%s:%d: %s %q: %v", e.file, e.line, e.name, e.value, e.err)
}

func (e *valueError) Unwrap() error { return e.err }

// source is where a raw value was found.
type source struct {
	file  string
	line  int // -1: a default
	value string
	none  bool
}

// all resolves every setting, and returns them or every problem, sorted.
func (r *resolver) all() (*Settings, error) {
	set := &Settings{values: map[string]string{}, none: map[string]bool{}, given: map[string]bool{}}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		res := r.resolve(name)
		set.values[name] = res.value
		if res.none {
			set.none[name] = true
		}
		if r.given(name) {
			set.given[name] = true
		}
	}
	if r.errs == nil {
		return set, nil
	}
	slices.SortFunc(r.errs, func(a, b *valueError) int { // the command line first, then by line
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.name, b.name))
	})
	errs := make([]error, len(r.errs))
	for i, e := range r.errs {
		errs[i] = e
	}
	return nil, errors.Join(errs...)
}

func (r *resolver) resolve(name string) result {
	if res, ok := r.done[name]; ok {
		return res
	}
	r.active = append(r.active, frame{name: name})
	res := r.compute(name)
	r.active = r.active[:len(r.active)-1]
	r.done[name] = res
	return res
}

func (r *resolver) compute(name string) result {
	src, err := r.lookup(name)
	r.active[len(r.active)-1].src = src
	if err != nil {
		r.fail(name, src, err)
		return result{failed: true}
	}
	if src.none {
		return result{none: true}
	}
	v, err := r.interpolate(src.value)
	if errors.Is(err, errDependency) {
		return result{failed: true}
	}
	if err == nil {
		v, err = r.normalize(settings[name], v)
	}
	if err == nil {
		err = r.check(name, v)
	}
	if err != nil {
		r.fail(name, src, err)
		return result{failed: true}
	}
	return result{value: v}
}

func (r *resolver) fail(name string, src source, err error) {
	r.errs = append(r.errs, &valueError{file: src.file, line: src.line, name: name, value: src.value, err: err})
}

// lookup finds a setting's raw value: the first layer that sets it, else the
// setting it is an alias for (serverport: masterport), else its default.
func (r *resolver) lookup(name string) (source, error) {
	names := []string{name}
	if a := settings[name].alias; a != "" {
		names = append(names, a)
	}
	for _, n := range names {
		for _, l := range r.layers {
			if e, ok := l.values[n]; ok {
				return source{file: l.file, line: e.line, value: e.value}, nil
			}
		}
	}
	return r.defaultOf(names[len(names)-1])
}

// given says whether the command line or puppet.conf sets name (or the
// setting it is an alias for).
func (r *resolver) given(name string) bool {
	for _, n := range []string{name, settings[name].alias} {
		for _, l := range r.layers {
			if _, ok := l.values[n]; ok && n != "" {
				return true
			}
		}
	}
	return false
}

func (r *resolver) defaultOf(name string) (source, error) {
	src := source{line: -1}
	s := settings[name]
	switch dirs, ok := runModeDirs[name]; {
	case name == "certname":
		h, d, err := r.host.names()
		if err != nil {
			return src, fmt.Errorf("no default, the host's name: %w", err)
		}
		src.value = defaultCertname(h, d)
	case name == "srv_domain":
		// Puppet::Settings.domain_fact: Facter's domain. Puppet asks for it
		// only to look SRV records up; so does this, so that a node that does
		// not use them never waits for DNS here.
		if use := r.resolve("use_srv_records"); use.failed || use.value != "true" {
			src.none = true
			break
		}
		_, d, err := r.host.names()
		if err != nil {
			return src, fmt.Errorf("no default, the host's domain: %w", err)
		}
		src.value, src.none = d, d == ""
	case ok && r.root:
		src.value = dirs[0]
	case name == "ssldir" && r.host.ownsSystemSSL():
		// A user who owns Debian's ssldir uses it (UnixRunMode#ssl_dir).
		src.value = systemSSLDir
	case ok:
		src.value = dirs[1]
	default:
		src.value, src.none = s.def, s.none
	}
	return src, nil
}

// errDependency marks a value that refers to a setting whose error is reported.
var errDependency = errors.New("refers to a setting in error")

var reference = regexp.MustCompile(`\$(\w+)|\$\{(\w+)\}`)

// interpolate replaces $name and ${name} by the values of those settings, as
// ChainedValues#convert does: $run_mode is the section, and $environment stays
// as written (Puppet warns that it cannot be interpolated).
func (r *resolver) interpolate(v string) (string, error) {
	var err error
	out := reference.ReplaceAllStringFunc(v, func(expr string) string {
		m := reference.FindStringSubmatch(expr)
		ref := m[1] + m[2]
		switch {
		case err != nil:
			return ""
		case ref == "environment":
			return m[0]
		case ref == "run_mode":
			return r.section
		}
		if _, ok := settings[ref]; !ok {
			err = fmt.Errorf("unknown setting $%s", ref)
			return ""
		}
		for i, f := range r.active {
			if f.name == ref {
				r.loop(r.active[i:])
				err = errDependency
				return ""
			}
		}
		res := r.resolve(ref)
		switch {
		case res.failed:
			err = errDependency
		case res.none:
			err = fmt.Errorf("$%s has no value", ref)
		}
		return res.value
	})
	return out, err
}

// loop reports settings that refer to each other, on the first of them written
// on the command line or in puppet.conf (defaults make no loops).
func (r *resolver) loop(frames []frame) {
	b := 0
	for i, f := range frames {
		if f.src.line >= 0 && (frames[b].src.line < 0 || f.src.line < frames[b].src.line) {
			b = i
		}
	}
	names := make([]string, 0, len(frames)+1)
	for i := range len(frames) + 1 { // from the blamed setting round to itself
		names = append(names, frames[(b+i)%len(frames)].name)
	}
	r.fail(frames[b].name, frames[b].src, fmt.Errorf("loop: $%s", strings.Join(names, " -> $")))
}

// normalize checks v for its kind and gives it the form Puppet's munge does, as
// `puppet config print` shows it: paths absolute, durations in seconds.
func (r *resolver) normalize(s setting, v string) (string, error) {
	switch s.kind {
	case kindPath:
		return r.expandPath(v)
	case kindPathList:
		parts := strings.Split(v, ":")
		for len(parts) > 0 && parts[len(parts)-1] == "" { // Ruby's split drops them
			parts = parts[:len(parts)-1]
		}
		for i, p := range parts {
			var err error
			if parts[i], err = r.expandPath(p); err != nil {
				return "", err
			}
		}
		return strings.Join(parts, ":"), nil
	case kindBool:
		if _, err := parseBool(v); err != nil {
			return "", err
		}
	case kindInt, kindPort:
		n, err := parseInt(v)
		if err != nil {
			return "", err
		}
		if s.kind == kindPort && (n < 0 || n > 65535) {
			return "", errors.New("not a port number (0 to 65535)")
		}
		return strconv.FormatInt(n, 10), nil
	case kindDuration, kindTTL:
		if s.kind == kindTTL && v == "unlimited" {
			return v, nil
		}
		d, err := parseDuration(v)
		if err != nil && s.kind == kindTTL {
			err = errors.New("not a duration or unlimited")
		}
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(int64(d/time.Second), 10), nil
	case kindEnum:
		for _, w := range s.values {
			if v == w {
				return v, nil
			}
		}
		return "", fmt.Errorf("not one of %s", strings.Join(s.values, ", "))
	case kindRevocation:
		switch v {
		case "chain", "true":
			return "chain", nil
		case "leaf", "false":
			return v, nil
		}
		return "", errors.New("not chain, leaf, true or false")
	}
	return v, nil
}

// check applies the checks Puppet's hooks make.
func (r *resolver) check(name, v string) error {
	switch name {
	case "certname":
		if v != strings.ToLower(v) {
			return errors.New("certificate names must be lower case")
		}
	case "node_name_fact":
		if v == "" {
			return nil
		}
		value, cert := r.resolve("node_name_value"), r.resolve("certname")
		if !value.failed && !cert.failed && value.value != cert.value {
			return errors.New("cannot be set with node_name_value")
		}
	}
	return nil
}

// expandPath makes p absolute as Ruby's File.expand_path does: ~ and ~user are
// home directories, a relative path is the working directory's.
func (r *resolver) expandPath(p string) (string, error) {
	if rest, ok := strings.CutPrefix(p, "~"); ok {
		name, rest, _ := strings.Cut(rest, "/")
		home, err := r.homeOf(name)
		if err != nil {
			return "", err
		}
		p = filepath.Join(home, rest)
	}
	if !filepath.IsAbs(p) {
		wd, err := r.host.cwd()
		if err != nil {
			return "", fmt.Errorf("no working directory: %w", err)
		}
		p = filepath.Join(wd, p)
	}
	return filepath.Clean(p), nil
}

// homeOf is the home directory of user name, or of this process for "".
func (r *resolver) homeOf(name string) (string, error) {
	if name == "" {
		home, err := r.host.home()
		if err != nil {
			return "", fmt.Errorf("no home directory: %w", err)
		}
		return home, nil
	}
	u, err := user.Lookup(name)
	if errors.As(err, new(user.UnknownUserError)) {
		return "", fmt.Errorf("no user %s", name)
	}
	if err != nil {
		return "", err
	}
	return u.HomeDir, nil
}

func parseBool(v string) (bool, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("not a boolean (true or false)")
}

// parseInt reads an integer as Ruby's Integer() does (base prefixes, a leading 0
// for octal, _ between digits).
func parseInt(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil {
		return 0, errors.New("not an integer")
	}
	return n, nil
}

var durationFormat = regexp.MustCompile(`^(\d+)([ydhms]?)$`)

var durationUnits = map[string]int64{"y": 365 * 24 * 3600, "d": 24 * 3600, "h": 3600, "m": 60, "s": 1, "": 1}

// parseDuration reads a duration as Puppet's DurationSetting does: digits and an
// optional unit, y (365 days), d, h, m or s; no unit is seconds.
func parseDuration(v string) (time.Duration, error) {
	m := durationFormat.FindStringSubmatch(v)
	if m == nil {
		return 0, errors.New("not a duration (30m, 1h, 2d, 1y, 10s or seconds)")
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	unit := durationUnits[m[2]]
	if err != nil || n > math.MaxInt64/int64(time.Second)/unit {
		return 0, errors.New("duration out of range")
	}
	return time.Duration(n*unit) * time.Second, nil
}
