package resources

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
)

// Mount is mount_core's mount with its parsed provider on Linux: one line of an
// fstab (Target) and whether its mount point is mounted. The fstab goes through
// the record-file helper (Puppet's header, atomic write, per-target lock); the
// mount point is mounted with `mount NAME`, unmounted with `umount NAME` and
// remounted with `mount -o remount NAME`, as the provider does, so that mount reads
// the options from the fstab. Unmanaged properties (nil) are left as they are.
type Mount struct {
	Name string // the mount point, trailing slashes removed
	// Ensure is defined (present), unmounted, absent or mounted; "" leaves it
	// unmanaged (the other properties of an existing entry are still managed).
	Ensure  string
	Device  *string
	Fstype  *string
	Options *string
	Dump    *MountValue
	Pass    *MountValue
	Target  string // absolute; Puppet's default is /etc/fstab
	// Remounts says `mount -o remount` works; else a remount is umount then mount.
	Remounts bool
	// Sensitive names the properties whose values logs must redact.
	Sensitive map[string]bool

	now     func() time.Time                                             // the header's time; nil means time.Now
	run     func(ctx context.Context, name string, args ...string) error // nil runs the command
	mounted func() (map[string]bool, error)                              // nil reads /proc/self/mountinfo
	h       engine.Handle
	dir     *atomicfile.DirID // the directory the fstab was last read in
	pathWatch
	unwatchTable func()
	selfRefresh  bool // the last CheckApply's changes refresh the mount (not when removing it)
}

// MountValue is a dump or pass value: its text, and whether the catalog gave a
// number, which Puppet's messages print bare (`dump changed '0' to 1`).
type MountValue struct {
	Text   string
	Number bool
}

func (v MountValue) shown() shown {
	if v.Number {
		return shown{raw: v.Text, text: v.Text}
	}
	return str(v.Text)
}

// inspect is the value as Ruby's inspect prints it in a validation message.
func (v MountValue) inspect() string {
	if v.Number {
		return v.Text
	}
	return rubyInspect(v.Text)
}

var (
	_ engine.Resource      = (*Mount)(nil)
	_ engine.Locker        = (*Mount)(nil)
	_ engine.Refresher     = (*Mount)(nil)
	_ engine.SelfRefresher = (*Mount)(nil)
)

// The ensure values, as reports and messages print them.
const (
	mountAbsent    = "absent"
	mountGhost     = "ghost" // mounted, not in the fstab
	mountUnmounted = "unmounted"
	mountMounted   = "mounted"
	mountDefined   = "defined"
)

// The fields of a Linux fstab line, in the provider's order.
const (
	fsDevice = iota
	fsName
	fsFstype
	fsOptions
	fsDump
	fsPass
	fsFields
)

// fstabRecord is one line of an fstab: a record, or text kept as it is.
type fstabRecord struct {
	text   string
	record bool
	fields [fsFields]*string // nil is absent; device and name with \040 read as spaces
}

// The parsed provider's text lines, tried before records: comments, blank lines,
// and lines with fewer than the two mandatory fields ("incomplete").
var (
	fstabComment = regexp.MustCompile(`^[ \t\r\n\f\v]*#`)
	fstabBlank   = regexp.MustCompile(`^[ \t\r\n\f\v]*$`)
	rubySpace    = regexp.MustCompile(`[ \t\r\n\f\v]+`)
)

// rubySplit is Ruby's line.split(/\s+/): a leading empty field is kept, trailing
// empty ones are dropped.
func rubySplit(line string) []string {
	f := rubySpace.Split(line, -1)
	for len(f) > 0 && f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	return f
}

// trimMountName is the type's munge of names (and the provider's of the names it
// reads): trailing slashes go, a lone "/" stays.
func trimMountName(s string) string {
	t := strings.TrimRight(s, "/")
	if t == "" && s != "" {
		return s[:1]
	}
	return t
}

func parseFstabLine(line string) fstabRecord {
	if fstabComment.MatchString(line) || fstabBlank.MatchString(line) {
		return fstabRecord{text: line}
	}
	if fields := strings.FieldsFunc(line, func(r rune) bool { return strings.ContainsRune(" \t\r\n\f\v", r) }); len(fields) < 2 {
		return fstabRecord{text: line}
	}
	parts := rubySplit(line)
	r := fstabRecord{record: true}
	for i := 0; i < fsFields && i < len(parts); i++ {
		if parts[i] != "" {
			s := parts[i]
			r.fields[i] = &s
		}
	}
	if len(parts) > fsFields { // the last field takes the rest, joined by tabs
		s := strings.Join(append([]string{strOr(r.fields[fsPass])}, parts[fsFields:]...), "\t")
		r.fields[fsPass] = &s
	}
	for _, i := range []int{fsDevice, fsName} {
		if r.fields[i] != nil {
			s := strings.ReplaceAll(*r.fields[i], `\040`, " ")
			r.fields[i] = &s
		}
	}
	if r.fields[fsName] != nil {
		s := trimMountName(*r.fields[fsName])
		r.fields[fsName] = &s
	}
	return r
}

func strOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// line is the provider's to_line: spaces in device and name written as \040,
// fields joined by tabs, absent optional ones empty.
func (r fstabRecord) line() (string, error) {
	if !r.record {
		return r.text, nil
	}
	out := make([]string, fsFields)
	for i, f := range r.fields {
		switch {
		case f == nil && i == fsDevice:
			return "", errors.New("Field 'device' is required")
		case f == nil && i == fsName:
			return "", errors.New("Field 'name' is required")
		case f == nil:
		case i == fsDevice || i == fsName:
			out[i] = strings.ReplaceAll(*f, " ", `\040`)
		default:
			out[i] = *f
		}
	}
	return strings.Join(out, "\t"), nil
}

// Validate checks the parameters as the mount type does on Linux; each problem is
// a *RecordParamError.
func (m *Mount) Validate() error {
	var errs paramErrors
	switch m.Ensure {
	case "", mountDefined, mountUnmounted, mountAbsent, mountMounted:
	default:
		errs.add("ensure", "Invalid value %s. Valid values are defined, unmounted, absent, mounted.", rubyInspect(m.Ensure))
	}
	if m.Fstype != nil {
		if rubySpace.MatchString(*m.Fstype) {
			errs.add("fstype", "fstype must not contain whitespace: %s", *m.Fstype)
		} else if *m.Fstype == "" {
			errs.add("fstype", "fstype must not be an empty string")
		}
	}
	if m.Options != nil {
		if rubySpace.MatchString(*m.Options) {
			errs.add("options", "options must not contain whitespace: %s", *m.Options)
		} else if *m.Options == "" {
			errs.add("options", "options must not be an empty string")
		}
	}
	if m.Dump != nil && !strings.ContainsAny(m.Dump.Text, "01") { // newvalue(/(0|1)/), unanchored
		errs.add("dump", "Invalid value %s. Valid values match /(0|1)/.", m.Dump.inspect())
	}
	if !strings.HasPrefix(m.Target, "/") {
		errs.add("target", "target must be an absolute path, not %s", puppetString(m.Target))
	}
	return errors.Join(errs...)
}

// ProviderName names the provider, as reports do.
func (m *Mount) ProviderName() string { return "parsed" }

// Locks serialises the mounts sharing an fstab.
func (m *Mount) Locks() []string { return []string{targetLock(m.Target)} }

// Init keeps the handle.
func (m *Mount) Init(h engine.Handle) error {
	m.h = h
	return nil
}

// Watch watches the fstab and the mount table.
func (m *Mount) Watch(ctx context.Context) error {
	if err := m.watch(ctx, m.Target, m.h.Poke); err != nil {
		return err
	}
	if m.mounted != nil { // a test's own mount table
		return nil
	}
	cancel, err := mountTable.add(m.h.Poke)
	if err != nil {
		m.close()
		return err
	}
	m.unwatchTable = cancel
	context.AfterFunc(ctx, cancel)
	return nil
}

// Close ends the watches.
func (m *Mount) Close() error {
	m.close()
	if m.unwatchTable != nil {
		m.unwatchTable()
	}
	return nil
}

// SelfRefresh says whether the last CheckApply's changes refresh the mount, as
// Puppet's self_refresh does (not when it was being removed).
func (m *Mount) SelfRefresh() bool { return m.selfRefresh }

// Refresh is the type's refresh: a remount, when the mount point is mounted and
// the fstype is not swap.
func (m *Mount) Refresh(ctx context.Context, apply bool) error {
	if !apply {
		return nil
	}
	table, err := m.mountTable()
	if err != nil {
		return err
	}
	if !table[m.Name] {
		return nil
	}
	return m.remount(ctx)
}

func (m *Mount) remount(ctx context.Context) error {
	if m.Fstype != nil && *m.Fstype == "swap" {
		return nil
	}
	m.h.Logf(engine.Info, "Remounting")
	if m.Remounts {
		return m.command(ctx, "mount", "-o", "remount", m.Name)
	}
	if err := m.command(ctx, "umount", m.Name); err != nil {
		return err
	}
	return m.command(ctx, "mount", m.Name)
}

// command runs mount or umount as Puppet's provider does (C locale, output kept
// for the error).
func (m *Mount) command(ctx context.Context, name string, args ...string) error {
	if m.run != nil {
		return m.run(ctx, name, args...)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("Command %s is missing: %w (Debian package mount)", name, err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	line := strings.Join(append([]string{path}, args...), " ")
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("Execution of '%s' returned %d: %s", line, ee.ExitCode(), strings.TrimSpace(string(out)))
	}
	return fmt.Errorf("Execution of '%s' failed: %w", line, err)
}

func (m *Mount) mountTable() (map[string]bool, error) {
	if m.mounted != nil {
		return m.mounted()
	}
	return readMountTable(mountinfoPath)
}

func (m *Mount) read() ([]fstabRecord, error) {
	recs, dir, err := readRecords(m.Target, parseFstabLine)
	m.dir = dir
	return recs, err
}

// findMount returns the index of the record for name, the last one as Puppet's
// prefetch keeps, or -1.
func findMount(recs []fstabRecord, name string) int {
	found := -1
	for i, r := range recs {
		if r.record && r.fields[fsName] != nil && *r.fields[fsName] == name {
			found = i
		}
	}
	return found
}

// mountProperty is one managed property besides ensure, in the type's order.
type mountProperty struct {
	name  string
	field int
	want  shown
}

func (m *Mount) properties() []mountProperty {
	var out []mountProperty
	add := func(name string, field int, want shown) {
		out = append(out, mountProperty{name, field, want})
	}
	if m.Device != nil {
		add("device", fsDevice, str(*m.Device))
	}
	if m.Fstype != nil {
		add("fstype", fsFstype, str(*m.Fstype))
	}
	if m.Options != nil {
		add("options", fsOptions, str(*m.Options))
	}
	if m.Pass != nil {
		add("pass", fsPass, m.Pass.shown())
	}
	if m.Dump != nil {
		add("dump", fsDump, m.Dump.shown())
	}
	return out
}

// newRecord is the record the provider creates: the managed values, options
// 'defaults' when unset, as its pre_gen writes them.
func (m *Mount) newRecord() (fstabRecord, error) {
	if m.Fstype == nil {
		return fstabRecord{}, fmt.Errorf("Mount[%s]: Field 'fstype' is required", m.Name)
	}
	r := fstabRecord{record: true}
	name := m.Name
	r.fields[fsName] = &name
	for _, p := range m.properties() {
		v := p.want.raw
		r.fields[p.field] = &v
	}
	if r.fields[fsOptions] == nil {
		d := "defaults"
		r.fields[fsOptions] = &d
	}
	return r, nil
}

// CheckApply reads the fstab and the mount table and brings the mount to Ensure as
// the type's ensure values do: the entry created (with every property) or removed,
// the mount point mounted or unmounted; when ensure is in sync, the other
// properties are compared in the type's order. A change makes the mount refresh
// itself (a remount when it is mounted), unless it is being removed.
func (m *Mount) CheckApply(ctx context.Context, apply bool) (bool, error) {
	m.selfRefresh = false
	defer lockTarget(m.Target)()
	recs, err := m.read()
	if err != nil {
		return false, err
	}
	table, err := m.mountTable()
	if err != nil {
		return false, err
	}
	i := findMount(recs, m.Name)
	isMounted := table[m.Name]
	is := mountAbsent
	switch {
	case i >= 0 && isMounted:
		is = mountMounted
	case i >= 0:
		is = mountUnmounted
	case isMounted:
		is = mountGhost
	}
	inFstab := i >= 0
	ensureChange := func(should string) {
		isShown, shouldShown := str(is), str(should)
		isShown.absent = is == mountAbsent
		shouldShown.absent = should == mountAbsent
		m.h.Change(propertyChange("ensure", isShown, shouldShown, m.Sensitive["ensure"], apply))
	}
	events := 0 // the mount's own events, each refreshing it once
	var actions []func() error
	write := func() error { return m.write(recs) }
	create := func() error {
		r, err := m.newRecord()
		if err != nil {
			return err
		}
		recs = append(recs, r)
		return m.write(recs)
	}
	syncOthers := func(log bool) bool {
		changed := false
		for _, p := range m.properties() {
			have := recs[i].fields[p.field]
			if have != nil && *have == p.want.raw {
				continue
			}
			if log {
				isShown := shown{raw: "absent", text: "'absent'", absent: true}
				if have != nil {
					isShown = str(*have)
				}
				m.h.Change(propertyChange(p.name, isShown, p.want, m.Sensitive[p.name], apply))
				events++
			}
			v := p.want.raw
			recs[i].fields[p.field] = &v
			changed = true
		}
		return changed
	}
	umount := func() error { return m.command(ctx, "umount", m.Name) }
	mount := func() error { return m.command(ctx, "mount", m.Name) }

	switch want := m.Ensure; {
	case want == mountAbsent:
		if is == mountAbsent {
			return true, nil
		}
		ensureChange(mountAbsent)
		if isMounted {
			actions = append(actions, umount)
		}
		if inFstab {
			recs = append(recs[:i:i], recs[i+1:]...)
			actions = append(actions, write)
		}
		if !apply {
			return false, nil
		}
		return false, runAll(actions)
	case want == "" && !inFstab:
		return true, nil
	case want == "" || (want == mountDefined && inFstab) || (want == mountUnmounted && is == mountUnmounted) ||
		(want == mountMounted && is == mountMounted):
		if syncOthers(true) {
			actions = append(actions, write)
		}
	case want == mountDefined:
		ensureChange(mountDefined)
		events = 1
		actions = append(actions, create)
	case want == mountUnmounted:
		ensureChange(mountUnmounted)
		events = 1
		switch is {
		case mountGhost:
			actions = append(actions, create, umount)
		case mountAbsent:
			actions = append(actions, create)
		case mountMounted:
			actions = append(actions, umount)
			if syncOthers(false) {
				actions = append(actions, write)
			}
		}
	case want == mountMounted:
		ensureChange(mountMounted)
		events = 1
		switch is {
		case mountGhost:
			actions = append(actions, create)
		case mountAbsent:
			actions = append(actions, create, mount)
		case mountUnmounted:
			if syncOthers(false) {
				actions = append(actions, write)
			}
			actions = append(actions, mount)
		}
	}
	if events == 0 {
		return true, nil
	}
	if apply {
		if err := runAll(actions); err != nil {
			return false, err
		}
	}
	m.selfRefresh = true
	return false, nil
}

func runAll(actions []func() error) error {
	for _, a := range actions {
		if err := a(); err != nil {
			return err
		}
	}
	return nil
}

// write replaces the fstab with recs; a new file gets mode 0600, as Puppet's copy
// of its temporary file does.
func (m *Mount) write(recs []fstabRecord) error {
	return writeFlatRecords(m.Target, m.dir, recs, m.now)
}
