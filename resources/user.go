package resources

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// User is Puppet's user type with the useradd provider: the account is read from
// /etc/passwd, /etc/group and /etc/shadow and changed with useradd, usermod and
// userdel, one usermod call for all the properties out of sync.
type User struct {
	Name   string
	Absent bool
	UID    *int
	GID    string // a group name or number; empty is unmanaged
	// Groups are supplementary groups, by name; nil is unmanaged. With Inclusive
	// (membership => inclusive) the user is in exactly these, otherwise in at least
	// these.
	Groups     []string
	Inclusive  bool
	Home       string
	ManageHome bool
	Shell      string
	Comment    *string
	Password   *string // the hash; always shown redacted
	System     bool
	AllowDupe  bool
	// Root, when set, is the root of the system the account lives in (a chroot):
	// files are read under it and the tools get --root.
	Root string

	h engine.Handle
	watches
}

var _ engine.Resource = (*User)(nil)

// Validate checks what useradd would refuse.
func (u *User) Validate() error {
	switch {
	case u.Name == "" || strings.ContainsAny(u.Name, ":\n,"):
		return fmt.Errorf("invalid user name %q", u.Name)
	case u.UID != nil && *u.UID < 0:
		return fmt.Errorf("uid %d: must be positive", *u.UID)
	case u.Home != "" && !strings.HasPrefix(u.Home, "/"):
		return fmt.Errorf("Home directory must be an absolute path, not '%s'", u.Home)
	}
	for _, g := range u.Groups {
		if _, err := strconv.Atoi(g); err == nil {
			return errors.New("Group names must be provided, not GID numbers.")
		}
		if g == "" || strings.Contains(g, ",") {
			return fmt.Errorf("invalid group name %q", g)
		}
	}
	return nil
}

// ProviderName names the provider, as reports do.
func (u *User) ProviderName() string { return "useradd" }

// Init keeps the handle.
func (u *User) Init(h engine.Handle) error {
	u.h = h
	return nil
}

// Watch watches the account files.
func (u *User) Watch(ctx context.Context) error {
	return u.watchAll(ctx, u.Root, accountFiles, u.h.Poke)
}

// Close ends the watches.
func (u *User) Close() error {
	u.closeAll()
	return nil
}

// CheckApply compares the account with what is wanted and, with apply, changes it.
func (u *User) CheckApply(ctx context.Context, apply bool) (bool, error) {
	a, err := readAccounts(u.Root)
	if err != nil {
		return false, err
	}
	cur, exists := a.users[u.Name]
	switch {
	case u.Absent && !exists:
		return true, nil
	case u.Absent:
		u.h.Change(engine.Change{Property: "ensure", Previous: "present", Desired: "absent", Message: "removed"})
		if !apply {
			return false, nil
		}
		args := []string{}
		if u.ManageHome {
			args = append(args, "-r")
		}
		return false, ensureErr("present", "absent", runTool(ctx, u.Root, "userdel", append(args, u.Name)...))
	case !exists:
		u.h.Change(engine.Change{Property: "ensure", Previous: "absent", Desired: "present", Message: "created"})
		if !apply {
			return false, nil
		}
		return false, ensureErr("absent", "present", u.create(ctx, a))
	}
	var args []string
	var changes []engine.Change
	add := func(c engine.Change, flag ...string) {
		changes = append(changes, c)
		args = append(args, flag...)
	}
	if u.UID != nil && cur.uid != *u.UID {
		is, should := strconv.Itoa(cur.uid), strconv.Itoa(*u.UID)
		flags := []string{"-u", should}
		if u.AllowDupe {
			flags = append(flags, "-o")
		}
		add(engine.Change{Property: "uid", Previous: is, Desired: should, Message: changed("uid", is, should)}, flags...)
	}
	if u.GID != "" {
		gid, ok := a.gid(u.GID)
		if !ok {
			return false, fmt.Errorf("Could not find group(s) %s", u.GID)
		}
		if cur.gid != gid {
			is, should := strconv.Itoa(cur.gid), strconv.Itoa(gid)
			add(engine.Change{Property: "gid", Previous: is, Desired: should, Message: changed("gid", is, should)}, "-g", should)
		}
	}
	if u.Comment != nil && cur.gecos != *u.Comment {
		add(engine.Change{Property: "comment", Previous: cur.gecos, Desired: *u.Comment,
			Message: changed("comment", quoteShow(cur.gecos), quoteShow(*u.Comment))}, "-c", *u.Comment)
	}
	if u.Home != "" && cur.home != u.Home {
		add(engine.Change{Property: "home", Previous: cur.home, Desired: u.Home,
			Message: changed("home", quoteShow(cur.home), quoteShow(u.Home))}, "-d", u.Home)
	}
	if u.Shell != "" && cur.shell != u.Shell {
		add(engine.Change{Property: "shell", Previous: cur.shell, Desired: u.Shell,
			Message: changed("shell", quoteShow(cur.shell), quoteShow(u.Shell))}, "-s", u.Shell)
	}
	if u.Groups != nil {
		have := a.members[u.Name]
		want := u.wantGroups(have)
		if !slices.Equal(have, want) {
			// Puppet prints the groups held joined, the groups wanted as an array.
			is, should := strings.Join(have, ","), "['"+strings.Join(want, "', '")+"']"
			add(engine.Change{Property: "groups", Previous: is, Desired: should,
				Message: changed("groups", is, should)}, "-G", strings.Join(want, ","))
		}
	}
	if u.Password != nil && a.shadow[u.Name] != *u.Password {
		add(engine.Change{Property: "password", Previous: "[redacted]", Desired: "[redacted]",
			Message: "changed [redacted] to [redacted]"}, "-p", *u.Password)
	}
	for _, c := range changes {
		u.h.Change(c)
	}
	if len(changes) == 0 {
		return true, nil
	}
	if !apply {
		return false, nil
	}
	if err := runTool(ctx, u.Root, "usermod", append(args, u.Name)...); err != nil {
		c := changes[0]
		return false, &engine.ChangeError{Property: c.Property, From: c.Previous, To: c.Desired, Err: err}
	}
	return false, nil
}

// wantGroups is the sorted set of supplementary groups wanted, given those held.
func (u *User) wantGroups(have []string) []string {
	set := map[string]bool{}
	if !u.Inclusive {
		for _, g := range have {
			set[g] = true
		}
	}
	for _, g := range u.Groups {
		set[g] = true
	}
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// create runs useradd as Puppet's useradd provider builds it, then sets the
// password, which Puppet keeps off the useradd command line.
func (u *User) create(ctx context.Context, a *accounts) error {
	var args []string
	if u.GID == "" {
		if _, ok := a.groups[u.Name]; ok {
			args = append(args, "-g", u.Name)
		}
	}
	if u.Comment != nil && *u.Comment != "" {
		args = append(args, "-c", *u.Comment)
	}
	if u.GID != "" {
		args = append(args, "-g", u.GID)
	}
	if len(u.Groups) > 0 {
		args = append(args, "-G", strings.Join(u.Groups, ","))
	}
	if u.Home != "" {
		args = append(args, "-d", u.Home)
	}
	if u.Shell != "" {
		args = append(args, "-s", u.Shell)
	}
	if u.UID != nil {
		args = append(args, "-u", strconv.Itoa(*u.UID))
	}
	if u.AllowDupe {
		args = append(args, "-o")
	}
	if u.ManageHome {
		args = append(args, "-m")
	} else {
		args = append(args, "-M")
	}
	if u.System {
		args = append(args, "-r")
	}
	if err := runTool(ctx, u.Root, "useradd", append(args, u.Name)...); err != nil {
		return err
	}
	if u.Password != nil {
		return runTool(ctx, u.Root, "usermod", "-p", *u.Password, u.Name)
	}
	return nil
}

// ensureErr wraps a failed ensure change as Puppet reports it.
func ensureErr(from, to string, err error) error {
	if err == nil {
		return nil
	}
	return &engine.ChangeError{Property: "ensure", From: from, To: to, Err: err}
}
