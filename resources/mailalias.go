package resources

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Mailalias is mailalias_core's mailalias with its aliases provider: one record of
// an aliases file, "name: recipient, recipient" or "name: :include: file".
type Mailalias struct {
	Name      string
	Absent    bool
	Recipient *[]string // nil leaves the recipients alone
	File      *string   // an :include: file; nil leaves it alone
	Target    string    // absolute; Puppet's default is /etc/aliases
	// Sensitive names the properties whose values logs must redact.
	Sensitive map[string]bool

	now func() time.Time // the header's time stamp; nil means time.Now
	h   engine.Handle
	pathWatch
}

var (
	_ engine.Resource = (*Mailalias)(nil)
	_ engine.Locker   = (*Mailalias)(nil)
)

// aliasRecord is one line of an aliases file: a record, or text kept as it is.
type aliasRecord struct {
	text      string
	record    bool
	name      string
	recipient []string // nil with file
	file      string
}

var (
	aliasComment = regexp.MustCompile(`^#`)
	aliasBlank   = regexp.MustCompile(`^\s*$`)
	// aliasQuoted is what to_line quotes: anything but -+\w@.
	aliasQuoted = regexp.MustCompile(`[^-+\w@.]`)
)

// parseAliasLine is the provider's process and post_parse.
func parseAliasLine(line string) aliasRecord {
	if aliasComment.MatchString(line) || aliasBlank.MatchString(line) {
		return aliasRecord{text: line}
	}
	r := aliasRecord{record: true}
	parts := strings.SplitN(line, ":", 4)
	r.name = strings.TrimSpace(parts[0])
	if len(parts) == 4 && strings.TrimSpace(parts[2]) == "include" {
		r.file = strings.TrimSpace(parts[3])
		return r
	}
	parts = strings.SplitN(line, ":", 2)
	if len(parts) < 2 {
		return r
	}
	r.recipient = splitRecipients(strings.TrimSpace(parts[1]))
	return r
}

// splitRecipients splits on the commas outside double quotes and drops one quote
// at each end of each recipient, as post_parse does.
func splitRecipients(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	flush := func() {
		d := strings.TrimSpace(cur.String())
		d = strings.TrimPrefix(strings.TrimPrefix(d, `"`), `'`)
		d = strings.TrimSuffix(strings.TrimSuffix(d, `"`), `'`)
		out = append(out, d)
		cur.Reset()
	}
	for _, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
			cur.WriteRune(c)
		case c == ',' && !quoted:
			flush()
		default:
			cur.WriteRune(c)
		}
	}
	flush()
	return out
}

func (r aliasRecord) line() (string, error) {
	if !r.record {
		return r.text, nil
	}
	if r.recipient != nil {
		dest := make([]string, len(r.recipient))
		for i, d := range r.recipient {
			if aliasQuoted.MatchString(d) {
				d = `"` + d + `"`
			}
			dest[i] = d
		}
		return r.name + ": " + strings.Join(dest, ","), nil
	}
	if r.file != "" {
		return r.name + ": :include: " + r.file, nil
	}
	return "", fmt.Errorf("mailalias %s has neither recipients nor a file", r.name)
}

// Validate checks the target and the file.
func (m *Mailalias) Validate() error {
	switch {
	case !strings.HasPrefix(m.Target, "/"):
		return fmt.Errorf("target must be an absolute path, not '%s'", m.Target)
	case m.File != nil && !strings.HasPrefix(*m.File, "/"):
		return fmt.Errorf("File paths must be fully qualified, not '%s'", *m.File)
	case m.File != nil && m.Recipient != nil:
		return fmt.Errorf("You cannot specify both a recipient and a file")
	}
	return nil
}

// ProviderName names the provider, as reports do.
func (m *Mailalias) ProviderName() string { return "aliases" }

// Locks serialises the records sharing a target.
func (m *Mailalias) Locks() []string { return []string{targetLock(m.Target)} }

// Init keeps the handle.
func (m *Mailalias) Init(h engine.Handle) error {
	m.h = h
	return nil
}

// Watch watches the target file.
func (m *Mailalias) Watch(ctx context.Context) error { return m.watch(ctx, m.Target, m.h.Poke) }

// Close ends the watch.
func (m *Mailalias) Close() error {
	m.close()
	return nil
}

// CheckApply compares the record named Name: ensure first, then recipient and file.
func (m *Mailalias) CheckApply(ctx context.Context, apply bool) (bool, error) {
	defer lockTarget(m.Target)()
	recs, dir, err := readRecords(m.Target, parseAliasLine)
	if err != nil {
		return false, err
	}
	i := -1
	for j, r := range recs {
		if r.record && r.name == m.Name {
			i = j
		}
	}
	switch {
	case i < 0 && m.Absent:
		return true, nil
	case i < 0:
		m.h.Change(ensureChange(true))
		if !apply {
			return false, nil
		}
		r := aliasRecord{record: true, name: m.Name}
		if m.Recipient != nil {
			r.recipient = append([]string{}, *m.Recipient...)
		}
		if m.File != nil {
			r.file = *m.File
		}
		return false, writeFlatRecords(m.Target, dir, append(recs, r), m.now)
	case m.Absent:
		m.h.Change(ensureChange(false))
		if !apply {
			return false, nil
		}
		return false, writeFlatRecords(m.Target, dir, append(recs[:i:i], recs[i+1:]...), m.now)
	}
	r := &recs[i]
	changed := false
	if m.Recipient != nil && !equalStrings(r.recipient, *m.Recipient) {
		is := shown{raw: "absent", text: "'absent'", absent: true}
		if r.recipient != nil {
			is = list(r.recipient)
		}
		m.h.Change(propertyChange("recipient", is, list(*m.Recipient), m.Sensitive["recipient"], apply))
		r.recipient, r.file, changed = append([]string{}, *m.Recipient...), "", true
	}
	if m.File != nil && r.file != *m.File {
		is := str(r.file)
		if r.file == "" {
			is = shown{raw: "absent", text: "'absent'", absent: true}
		}
		m.h.Change(propertyChange("file", is, str(*m.File), m.Sensitive["file"], apply))
		r.file, r.recipient, changed = *m.File, nil, true
	}
	if !changed {
		return true, nil
	}
	if !apply {
		return false, nil
	}
	return false, writeFlatRecords(m.Target, dir, recs, m.now)
}
