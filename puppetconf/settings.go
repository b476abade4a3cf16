package puppetconf

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Unlimited is the Duration of a setting that Puppet leaves unbounded:
// maxwaitforcert and maxwaitforlock set to unlimited, crl_refresh_interval unset.
const Unlimited = time.Duration(math.MaxInt64)

// Settings are Puppet's settings of one section as puppet.conf and the command line
// give them. They do not change once loaded, and may be read from many goroutines.
type Settings struct {
	values map[string]string
	none   map[string]bool // settings without a value (Ruby's nil)
	given  map[string]bool // settings the command line or puppet.conf sets
}

// Given says whether the command line or puppet.conf sets the setting, rather
// than its default giving its value (Puppet's set_by_config?).
func (s *Settings) Given(name string) bool {
	_ = s.String(name) // panics on an unknown setting
	return s.given[name]
}

// Load reads file (puppet.conf; a missing file is no error, as in Puppet) for
// section ("agent"): the command line's values (overrides, setting name -> value,
// e.g. from flags --server) win over [agent] (the section), which wins over [main],
// which wins over the defaults. A [server] section reads [server], then [master].
// root says whether Debian's root paths apply (vardir /var/cache/puppet, ssldir
// /var/lib/puppet/ssl, confdir /etc/puppet, ...) or the non-root ones (~/.puppet/etc,
// ~/.puppet/cache, $confdir/ssl unless the user owns /var/lib/puppet/ssl).
//
// Unknown settings in the file are ignored, as in Puppet; unknown ones in overrides
// are an error. Every value of every setting is checked here, and all problems are
// returned together, each naming the file, the line and the setting. Puppet would
// ignore a puppet.conf with a line it cannot parse, log the error and run with the
// defaults; Load returns the error instead.
//
// Without certname set, Load finds the host's name as Facter does, which may ask
// DNS (for the canonical name of a host name without a domain).
func Load(file, section string, overrides map[string]string, root bool) (*Settings, error) {
	return load(file, section, overrides, root, realHost())
}

func load(file, section string, overrides map[string]string, root bool, h host) (*Settings, error) {
	if !allowedSection(section) {
		return nil, fmt.Errorf("section %q: not one of %s", section, strings.Join(sectionNames, ", "))
	}
	conf, err := readConf(file)
	if err != nil {
		return nil, err
	}
	cli, err := commandLine(overrides)
	if err != nil {
		return nil, err
	}
	h.names = askedOnce(h.names) // certname's and srv_domain's defaults; it may take DNS
	r := &resolver{host: h, root: root, section: section, done: map[string]result{}}
	r.layers = append(r.layers, layer{values: cli})
	for _, s := range searched(section) {
		r.layers = append(r.layers, layer{file: file, values: conf[s]})
	}
	return r.all()
}

// readConf reads puppet.conf; none is an empty one.
func readConf(file string) (confFile, error) {
	text, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return confFile{}, nil
	}
	if err != nil {
		return nil, err
	}
	conf, errs := parse(file, string(text))
	return conf, errors.Join(errs...)
}

// commandLine checks the names of the command line's settings and translates
// their values as Puppet does its flags' (quotes, true and false).
func commandLine(overrides map[string]string) (map[string]entry, error) {
	cli := map[string]entry{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		if _, ok := settings[name]; !ok {
			errs = append(errs, fmt.Errorf("command line: unknown setting %q", name))
			continue
		}
		cli[name] = entry{value: translate(overrides[name])}
	}
	return cli, errors.Join(errs...)
}

// searched are the sections of puppet.conf a run mode reads, first first.
func searched(section string) []string {
	switch section {
	case "main":
		return []string{"main"}
	case "server", "master":
		return []string{"server", "master", "main"}
	}
	return []string{section, "main"}
}

// String returns the value of setting name, interpolated ($vardir, ${vardir}) and
// as `puppet config print` shows it: paths absolute, durations in seconds,
// booleans true or false, lists as written; "" for a setting with no value. It
// panics on a setting this package does not know: that is a programming error.
func (s *Settings) String(name string) string {
	if _, ok := settings[name]; !ok {
		panic("puppetconf: unknown setting " + name)
	}
	return s.values[name]
}

// Bool returns a boolean setting (true or false, in any case in puppet.conf).
func (s *Settings) Bool(name string) (bool, error) {
	b, err := parseBool(s.String(name))
	return b, s.wrap(name, err)
}

// Duration returns a duration setting: "30m", "1h", "2d", "1y" (365 days), "10s",
// or a bare number of seconds. It is Unlimited for unlimited or no value.
func (s *Settings) Duration(name string) (time.Duration, error) {
	v := s.String(name)
	k := settings[name].kind
	if (s.none[name] && k == kindDuration) || (v == "unlimited" && k == kindTTL) {
		return Unlimited, nil
	}
	d, err := parseDuration(v)
	return d, s.wrap(name, err)
}

// Int returns an integer setting, ports included.
func (s *Settings) Int(name string) (int, error) {
	n, err := parseInt(s.String(name))
	if err == nil && int64(int(n)) != n {
		err = errors.New("integer out of range")
	}
	return int(n), s.wrap(name, err)
}

// List returns a comma-separated setting (tags, skip_tags, dns_alt_names,
// server_list) as its items, spaces trimmed, empty items dropped.
func (s *Settings) List(name string) []string {
	var items []string
	for _, item := range strings.Split(s.String(name), ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// wrap names the setting in an error of reading it as another kind than its own
// (Load has checked every value for its own kind).
func (s *Settings) wrap(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %q: %w", name, s.values[name], err)
}
