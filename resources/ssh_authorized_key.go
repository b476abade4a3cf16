package resources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
)

// SSHAuthorizedKey is sshkeys_core's ssh_authorized_key: one key line of an
// authorized_keys file, with its parsed provider. The record is found by its
// comment (Name). Unmanaged properties (empty Type, Key) are left as they are;
// Options is always managed (Puppet's default is none).
type SSHAuthorizedKey struct {
	Name    string
	Absent  bool
	Type    string // canonical: aliases (rsa, ed25519...) already resolved
	Key     string
	User    string
	Target  string   // "" means ~User/.ssh/authorized_keys
	Options []string // nil: none
	// DropPrivileges (Puppet's default) writes as the user: a new file and a new
	// .ssh directory belong to them. Without it the file is given to the user.
	DropPrivileges bool
	// Sensitive names the properties whose values logs must redact.
	Sensitive map[string]bool

	now func() time.Time // the header's time stamp; nil means time.Now
	h   engine.Handle
	dir *atomicfile.DirID // the directory the target was last read in
	pathWatch
}

var (
	_ engine.Resource = (*SSHAuthorizedKey)(nil)
	_ engine.Locker   = (*SSHAuthorizedKey)(nil)
)

// SSHKeyTypes are the key types the type accepts, and SSHKeyTypeAliases the short
// names it turns into them.
var (
	SSHKeyTypes = []string{"ssh-dss", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-ed25519",
		"sk-ecdsa-sha2-nistp256@openssh.com", "sk-ssh-ed25519@openssh.com", "ssh-rsa-cert-v01@openssh.com",
		"ssh-ed25519-cert-v01@openssh.com", "ssh-dss-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
		"ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com"}
	SSHKeyTypeAliases = map[string]string{"dsa": "ssh-dss", "ed25519": "ssh-ed25519", "rsa": "ssh-rsa",
		"ecdsa-sk": "sk-ecdsa-sha2-nistp256@openssh.com", "ed25519-sk": "sk-ssh-ed25519@openssh.com"}
)

// keyRecord is one line of an authorized_keys file: a key, or text kept as it is.
type keyRecord struct {
	text    string
	record  bool
	options []string // nil: none
	typ     string
	key     string
	name    string
	unnamed bool // no comment on disk: named "<target>:unnamed-N", written back without
}

var (
	keyComment = regexp.MustCompile(`^\s*#`)
	keyBlank   = regexp.MustCompile(`^\s*$`)
	// keyLine is the type's keyline_regex.
	keyLine = regexp.MustCompile(`^(?:(.+)\s+)?(ssh-dss|ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|` +
		`ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ecdsa-sk|ed25519-sk|` +
		`sk-ecdsa-sha2-nistp256@openssh.com|sk-ssh-ed25519@openssh.com|` +
		`ssh-rsa-cert-v01@openssh.com|ssh-ed25519-cert-v01@openssh.com|` +
		`ssh-dss-cert-v01@openssh.com|ecdsa-sha2-nistp256-cert-v01@openssh.com|` +
		`ecdsa-sha2-nistp384-cert-v01@openssh.com|ecdsa-sha2-nistp521-cert-v01@openssh.com)\s+([^ ]+)\s*(.*)$`)
	// keyV1 is an SSH1 key (bits exponent modulus); kept as text here.
	keyV1     = regexp.MustCompile(`^(?:(.+) )?(\d+) (\d+) (\d+)(?: (.+))?$`)
	keyOption = regexp.MustCompile(`^[-a-z0-9A-Z_]+(?:=".*?")?$`)
	// The provider's option scanner: a long option, else a bare word.
	optionLong  = regexp.MustCompile(`^[-a-z0-9A-Z_]+=".*?[^\\]"`)
	optionShort = regexp.MustCompile(`^[-a-z0-9A-Z_]+`)
	optionComma = regexp.MustCompile(`^[ \t]*,[ \t]*`)
)

// parseOptions is the provider's parse_options: comma-separated options, up to the
// first it cannot read.
func parseOptions(s string) []string {
	var out []string
	for s != "" {
		s = strings.TrimLeft(s, " \t")
		tok := optionLong.FindString(s)
		if tok == "" {
			tok = optionShort.FindString(s)
		}
		if tok == "" {
			break
		}
		out = append(out, tok)
		s = s[len(tok):]
		if m := optionComma.FindString(s); m != "" {
			s = s[len(m):]
		}
	}
	return out
}

// parseKeyLines reads the lines of target; a line that is no comment, blank line or
// key fails the whole file, as Puppet's prefetch does.
func parseKeyLines(target string, lines []string) ([]keyRecord, error) {
	recs := make([]keyRecord, len(lines))
	unnamed := 0
	for i, l := range lines {
		switch {
		case keyComment.MatchString(l), keyBlank.MatchString(l):
			recs[i] = keyRecord{text: l}
		default:
			m := keyLine.FindStringSubmatch(l)
			if m == nil {
				if keyV1.MatchString(l) {
					recs[i] = keyRecord{text: l}
					continue
				}
				// Puppet counts lines from 2.
				return nil, fmt.Errorf("Could not prefetch ssh_authorized_key provider 'parsed': Could not parse line %s (file: %s, line: %d)",
					rubyInspect(l), target, i+2)
			}
			r := keyRecord{record: true, typ: m[2], key: m[3], name: m[4]}
			if m[1] != "" {
				r.options = parseOptions(m[1])
			}
			if r.name == "" {
				unnamed++
				r.name, r.unnamed = fmt.Sprintf("%s:unnamed-%d", target, unnamed), true
			}
			recs[i] = r
		}
	}
	return recs, nil
}

// line is the provider's to_line.
func (r keyRecord) line() (string, error) {
	if !r.record {
		return r.text, nil
	}
	if r.typ == "" {
		return "", errors.New("Field 'type' is required")
	}
	if r.key == "" {
		return "", errors.New("Field 'key' is required")
	}
	name := r.name
	if r.unnamed {
		name = ""
	}
	l := strings.Join([]string{strings.Join(r.options, ","), r.typ, r.key, name}, " ")
	return strings.TrimLeft(l, " \t\n\r\f\v"), nil
}

// Validate checks the parameters as the type does; each problem is a
// *RecordParamError.
func (k *SSHAuthorizedKey) Validate() error {
	var errs paramErrors
	if k.Type != "" && !contains(SSHKeyTypes, k.Type) {
		errs.add("type", "Invalid value %s. Valid values are %s.", rubyInspect(k.Type), strings.Join(SSHKeyTypes, ", "))
	}
	if whitespace.MatchString(k.Key) {
		errs.add("key", "Key must not contain whitespace: %s", k.Key)
	}
	for _, o := range k.Options {
		if !keyOption.MatchString(o) {
			errs.add("options", "Option %s is not valid. A single option must either be of the form 'option' or 'option=\"value\"'. Multiple options must be provided as an array", o)
		}
	}
	switch {
	case k.User == "" && k.Target == "":
		errs.add("user", "Attribute 'user' or 'target' is mandatory")
	case k.Target != "" && !strings.HasPrefix(k.Target, "/"):
		errs.add("target", "target must be an absolute path, not %s", puppetString(k.Target))
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// ProviderName names the provider, as reports do.
func (k *SSHAuthorizedKey) ProviderName() string { return "parsed" }

// target is the file the key lives in: Target, or the user's authorized_keys; ""
// when the user does not exist (yet).
func (k *SSHAuthorizedKey) target() string {
	if k.Target != "" {
		return k.Target
	}
	u, err := user.Lookup(k.User)
	if err != nil || u.HomeDir == "" {
		return ""
	}
	return filepath.Join(u.HomeDir, ".ssh", "authorized_keys")
}

// Locks serialises the keys sharing a target.
func (k *SSHAuthorizedKey) Locks() []string {
	if t := k.target(); t != "" {
		return []string{targetLock(t)}
	}
	return nil
}

// Init keeps the handle.
func (k *SSHAuthorizedKey) Init(h engine.Handle) error {
	k.h = h
	return nil
}

// Watch watches the target file, or, while the user does not exist, the account
// files.
func (k *SSHAuthorizedKey) Watch(ctx context.Context) error {
	if t := k.target(); t != "" {
		return k.watch(ctx, t, k.h.Poke)
	}
	return k.watch(ctx, "/etc/passwd", k.h.Poke)
}

// Close ends the watch.
func (k *SSHAuthorizedKey) Close() error {
	k.close()
	return nil
}

func findKey(recs []keyRecord, name string) int {
	found := -1
	for i, r := range recs {
		if r.record && r.name == name {
			found = i
		}
	}
	return found
}

// optionsShown is the options property's value as Puppet prints it.
func optionsShown(o []string) shown {
	if len(o) == 0 {
		return shown{raw: "['absent']", text: "['absent']", absent: false}
	}
	return list(o)
}

// CheckApply reads the target and compares the record named Name: ensure first,
// then, when it exists, type, key and options in that order. Writing needs the
// user to exist, as the provider's flush does.
func (k *SSHAuthorizedKey) CheckApply(ctx context.Context, apply bool) (bool, error) {
	target := k.target()
	var recs []keyRecord
	if target != "" {
		defer lockTarget(target)()
		lines, dir, err := readRecordFile(target)
		if err != nil {
			return false, err
		}
		k.dir = dir
		if recs, err = parseKeyLines(target, lines); err != nil {
			return false, err
		}
	}
	i := findKey(recs, k.Name)
	switch {
	case i < 0 && k.Absent:
		return true, nil
	case i < 0:
		k.h.Change(ensureChange(true))
		if !apply {
			return false, nil
		}
		r := keyRecord{record: true, typ: k.Type, key: k.Key, name: k.Name, options: k.Options}
		return false, k.write(target, append(recs, r))
	case k.Absent:
		k.h.Change(ensureChange(false))
		if !apply {
			return false, nil
		}
		return false, k.write(target, append(recs[:i:i], recs[i+1:]...))
	}
	r := &recs[i]
	changed := false
	if k.Type != "" && r.typ != k.Type {
		k.h.Change(propertyChange("type", str(r.typ), str(k.Type), k.Sensitive["type"], apply))
		r.typ, changed = k.Type, true
	}
	if k.Key != "" && r.key != k.Key {
		k.h.Change(propertyChange("key", str(r.key), str(k.Key), k.Sensitive["key"], apply))
		r.key, changed = k.Key, true
	}
	if strings.Join(r.options, "\x00") != strings.Join(k.Options, "\x00") {
		should := optionsShown(k.Options)
		should.absent = len(k.Options) == 0
		k.h.Change(propertyChange("options", optionsShown(r.options), should, k.Sensitive["options"], apply))
		r.options, changed = k.Options, true
	}
	if !changed {
		return true, nil
	}
	if !apply {
		return false, nil
	}
	return false, k.write(target, recs)
}

// write is the provider's flush: the user must exist; as them, the target's
// directory is made (0700) when missing, the file written and set to 0600.
func (k *SSHAuthorizedKey) write(target string, recs []keyRecord) error {
	if k.User == "" {
		return errors.New("Cannot write SSH authorized keys without user")
	}
	u, err := lookupUser(k.User)
	if err != nil {
		return fmt.Errorf("User '%s' does not exist", k.User)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if target == "" { // the user appeared since: Puppet would have no target
		return fmt.Errorf("User '%s' does not exist", k.User)
	}
	lines := make([]string, len(recs))
	for i, r := range recs {
		l, err := r.line()
		if err != nil {
			return err
		}
		lines[i] = l
	}
	attrs := recordFileAttrs{mode: 0o600, uid: uid, gid: gid, forceMode: true, dir: k.dir}
	if k.DropPrivileges {
		dir := filepath.Dir(target)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			if err := os.Chown(dir, uid, gid); err != nil {
				return err
			}
		}
	} else {
		attrs.forceOwner = true // Puppet gives the file to the user after writing it
	}
	now := time.Now
	if k.now != nil {
		now = k.now
	}
	if err := writeRecordFile(target, renderRecordLines(lines, now()), attrs); err != nil {
		return fmt.Errorf("Puppet::Util::FileType::FileTypeFlat could not write %s: %w", target, err)
	}
	return nil
}
