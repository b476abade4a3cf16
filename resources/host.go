package resources

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
)

// Host is host_core's host: one line of a hosts file, with its parsed provider.
// Unmanaged properties (nil) are left as they are.
type Host struct {
	Name    string
	Absent  bool
	IP      *string
	Aliases *[]string // host_aliases, in order; an empty list removes them
	Comment *string
	Target  string // absolute; Puppet's default is /etc/hosts
	// Sensitive names the properties whose values logs must redact.
	Sensitive map[string]bool

	now func() time.Time // the header's time stamp; nil means time.Now
	h   engine.Handle
	dir *atomicfile.DirID // the directory the target was last read in
	pathWatch
}

var (
	_ engine.Resource = (*Host)(nil)
	_ engine.Locker   = (*Host)(nil)
)

// hostRecord is one line of a hosts file: a record, or text kept as it is.
type hostRecord struct {
	text    string // the line, when not a record
	record  bool
	ip      string
	name    string
	aliases *string // nil when absent; "" (after a change to no aliases) writes a bare tab
	comment string
}

// The parsed provider's line types, tried in order: comments, blank lines, records,
// and anything else (its "incomplete" text line).
var (
	hostComment = regexp.MustCompile(`^#`)
	hostBlank   = regexp.MustCompile(`^\s*$`)
	hostLine    = regexp.MustCompile(`^([0-9a-f:]\S+)\s+([^#\s+]\S+)\s*(.*?)?(?:\s*#\s*(.*))?$`)
	whitespace  = regexp.MustCompile(`\s+`)
)

func parseHostLine(line string) hostRecord {
	if hostComment.MatchString(line) || hostBlank.MatchString(line) {
		return hostRecord{text: line}
	}
	m := hostLine.FindStringSubmatch(line)
	if m == nil {
		return hostRecord{text: line}
	}
	r := hostRecord{record: true, ip: m[1], name: m[2], comment: m[4]}
	if m[3] != "" {
		a := whitespace.ReplaceAllString(m[3], " ")
		r.aliases = &a
	}
	return r
}

// line is the provider's to_line.
func (r hostRecord) line() (string, error) {
	if !r.record {
		return r.text, nil
	}
	if r.ip == "" {
		return "", errors.New("ip is a required attribute for hosts")
	}
	s := r.ip + "\t" + r.name
	if r.aliases != nil {
		s += "\t" + *r.aliases
	}
	if r.comment != "" {
		s += "\t# " + r.comment
	}
	return s, nil
}

// aliasList is the aliases as the property reads them (Ruby's split(' ')).
func (r hostRecord) aliasList() []string {
	if r.aliases == nil {
		return nil
	}
	return strings.Fields(*r.aliases)
}

var (
	hostPart = regexp.MustCompile(`^([\w]+|[\w][\w\-]+[\w])$`)
	ipv4     = regexp.MustCompile(`^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$`)
	// ipv6 is the type's own pattern, character for character.
	ipv6 = regexp.MustCompile(`^\s*((([0-9A-Fa-f]{1,4}:){7}([0-9A-Fa-f]{1,4}|:))|(([0-9A-Fa-f]{1,4}:){6}(:[0-9A-Fa-f]{1,4}|((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})|:))|(([0-9A-Fa-f]{1,4}:){5}(((:[0-9A-Fa-f]{1,4}){1,2})|:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})|:))|(([0-9A-Fa-f]{1,4}:){4}(((:[0-9A-Fa-f]{1,4}){1,3})|((:[0-9A-Fa-f]{1,4})?:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(([0-9A-Fa-f]{1,4}:){3}(((:[0-9A-Fa-f]{1,4}){1,4})|((:[0-9A-Fa-f]{1,4}){0,2}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(([0-9A-Fa-f]{1,4}:){2}(((:[0-9A-Fa-f]{1,4}){1,5})|((:[0-9A-Fa-f]{1,4}){0,3}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(([0-9A-Fa-f]{1,4}:){1}(((:[0-9A-Fa-f]{1,4}){1,6})|((:[0-9A-Fa-f]{1,4}){0,4}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(:(((:[0-9A-Fa-f]{1,4}){1,7})|((:[0-9A-Fa-f]{1,4}){0,5}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:)))(%.+)?\s*$`)
)

func validIP(s string) bool {
	if strings.ContainsAny(s, "\n\r") {
		return false
	}
	if m := ipv4.FindStringSubmatch(s); m != nil {
		for _, p := range m[1:] {
			if n, _ := strconv.Atoi(p); n > 255 {
				return false
			}
		}
		return true
	}
	return ipv6.MatchString(s)
}

// rubyInspect is how Ruby's String#inspect prints s (close enough for messages).
func rubyInspect(s string) string { return strconv.Quote(s) }

// Validate checks the parameters as the host type does; each problem is a
// *RecordParamError.
func (h *Host) Validate() error {
	var errs paramErrors
	parts := strings.Split(h.Name, ".")
	for len(parts) > 0 && parts[len(parts)-1] == "" { // Ruby's split drops them
		parts = parts[:len(parts)-1]
	}
	for _, p := range parts {
		if !hostPart.MatchString(p) {
			errs.add("name", "Invalid host name")
			break
		}
	}
	if strings.ContainsAny(h.Name, "\n\r") {
		errs.add("name", "Hostname cannot include newline")
	}
	if h.IP != nil && !validIP(*h.IP) {
		errs.add("ip", "Invalid IP address %s", rubyInspect(*h.IP))
	}
	if h.Aliases != nil {
		for _, a := range *h.Aliases {
			if whitespace.MatchString(a) {
				errs.add("host_aliases", "Host aliases cannot include whitespace")
			} else if a == "" {
				errs.add("host_aliases", "Host aliases cannot be an empty string. Use an empty array to delete all host_aliases ")
			}
		}
	}
	if h.Comment != nil && strings.ContainsAny(*h.Comment, "\n\r") {
		errs.add("comment", "Comment cannot include newline")
	}
	if !strings.HasPrefix(h.Target, "/") {
		errs.add("target", "target must be an absolute path, not %s", puppetString(h.Target))
	}
	return errors.Join(errs...)
}

// ProviderName names the provider, as reports do.
func (h *Host) ProviderName() string { return "parsed" }

// Locks serialises the hosts sharing a target.
func (h *Host) Locks() []string { return []string{targetLock(h.Target)} }

// Init keeps the handle.
func (h *Host) Init(hd engine.Handle) error {
	h.h = hd
	return nil
}

// Watch watches the target file.
func (h *Host) Watch(ctx context.Context) error { return h.watch(ctx, h.Target, h.h.Poke) }

// Close ends the watch.
func (h *Host) Close() error {
	h.close()
	return nil
}

func (h *Host) read() ([]hostRecord, error) {
	recs, dir, err := readRecords(h.Target, parseHostLine)
	h.dir = dir
	return recs, err
}

// find returns the index of the record named name, the last one as Puppet's
// prefetch keeps, or -1.
func findHost(recs []hostRecord, name string) int {
	found := -1
	for i, r := range recs {
		if r.record && r.name == name {
			found = i
		}
	}
	return found
}

// CheckApply reads the target and compares the record named Name: ensure first,
// then, when it exists, ip, host_aliases and comment in that order.
func (h *Host) CheckApply(ctx context.Context, apply bool) (bool, error) {
	defer lockTarget(h.Target)()
	recs, err := h.read()
	if err != nil {
		return false, err
	}
	i := findHost(recs, h.Name)
	switch {
	case i < 0 && h.Absent:
		return true, nil
	case i < 0:
		h.h.Change(ensureChange(true))
		if !apply {
			return false, nil
		}
		r := hostRecord{record: true, name: h.Name}
		if h.IP != nil {
			r.ip = *h.IP
		}
		if h.Aliases != nil {
			a := strings.Join(*h.Aliases, " ")
			r.aliases = &a
		}
		if h.Comment != nil {
			r.comment = *h.Comment
		}
		return false, h.write(append(recs, r))
	case h.Absent:
		h.h.Change(ensureChange(false))
		if !apply {
			return false, nil
		}
		return false, h.write(append(recs[:i:i], recs[i+1:]...))
	}
	r := &recs[i]
	changed := false
	if h.IP != nil && r.ip != *h.IP {
		h.h.Change(propertyChange("ip", str(r.ip), str(*h.IP), h.Sensitive["ip"], apply))
		r.ip, changed = *h.IP, true
	}
	if h.Aliases != nil {
		want := strings.Join(*h.Aliases, " ")
		if have := strings.Join(r.aliasList(), " "); have != want {
			// The list property prints what it found bare, what it wants quoted.
			is := shown{raw: have, text: have}
			if r.aliases == nil {
				is = shown{raw: "absent", text: "'absent'", absent: true}
			}
			h.h.Change(propertyChange("host_aliases", is, str(want), h.Sensitive["host_aliases"], apply))
			r.aliases, changed = &want, true
		}
	}
	if h.Comment != nil && r.comment != *h.Comment {
		h.h.Change(propertyChange("comment", str(r.comment), str(*h.Comment), h.Sensitive["comment"], apply))
		r.comment, changed = *h.Comment, true
	}
	if !changed {
		return true, nil
	}
	if !apply {
		return false, nil
	}
	return false, h.write(recs)
}

// write replaces the target with recs; a new file gets mode 0600, as Puppet's
// copy of its temporary file does.
func (h *Host) write(recs []hostRecord) error {
	return writeFlatRecords(h.Target, h.dir, recs, h.now)
}
