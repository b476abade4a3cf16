package resources

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Group is Puppet's group type with the groupadd provider: read from /etc/group,
// changed with groupadd, groupmod and groupdel.
type Group struct {
	Name      string
	Absent    bool
	GID       *int
	System    bool
	AllowDupe bool
	// Root, when set, is the root of the system the group lives in (a chroot).
	Root string

	h engine.Handle
	watches
}

var _ engine.Resource = (*Group)(nil)

// Validate checks the name and gid.
func (g *Group) Validate() error {
	switch {
	case g.Name == "" || strings.ContainsAny(g.Name, ":\n,"):
		return fmt.Errorf("invalid group name %q", g.Name)
	case g.GID != nil && *g.GID < 0:
		return fmt.Errorf("gid %d: must be positive", *g.GID)
	}
	return nil
}

// ProviderName names the provider, as reports do.
func (g *Group) ProviderName() string { return "groupadd" }

// Init keeps the handle.
func (g *Group) Init(h engine.Handle) error {
	g.h = h
	return nil
}

// Watch watches /etc/group and /etc/gshadow.
func (g *Group) Watch(ctx context.Context) error {
	return g.watchAll(ctx, g.Root, []string{"/etc/group", "/etc/gshadow"}, g.h.Poke)
}

// Close ends the watches.
func (g *Group) Close() error {
	g.closeAll()
	return nil
}

// CheckApply compares the group with what is wanted and, with apply, changes it.
func (g *Group) CheckApply(ctx context.Context, apply bool) (bool, error) {
	a, err := readAccounts(g.Root)
	if err != nil {
		return false, err
	}
	cur, exists := a.groups[g.Name]
	switch {
	case g.Absent && !exists:
		return true, nil
	case g.Absent:
		g.h.Change(engine.Change{Property: "ensure", Previous: "present", Desired: "absent", Message: "removed"})
		if !apply {
			return false, nil
		}
		return false, ensureErr("present", "absent", runTool(ctx, g.Root, "groupdel", g.Name))
	case !exists:
		g.h.Change(engine.Change{Property: "ensure", Previous: "absent", Desired: "present", Message: "created"})
		if !apply {
			return false, nil
		}
		var args []string
		if g.GID != nil {
			args = append(args, "-g", strconv.Itoa(*g.GID))
			if g.AllowDupe {
				args = append(args, "-o")
			}
		}
		if g.System {
			args = append(args, "-r")
		}
		return false, ensureErr("absent", "present", runTool(ctx, g.Root, "groupadd", append(args, g.Name)...))
	}
	if g.GID == nil || cur.gid == *g.GID {
		return true, nil
	}
	is, should := strconv.Itoa(cur.gid), strconv.Itoa(*g.GID)
	g.h.Change(engine.Change{Property: "gid", Previous: is, Desired: should, Message: changed("gid", is, should)})
	if !apply {
		return false, nil
	}
	args := []string{"-g", should}
	if g.AllowDupe {
		args = append(args, "-o")
	}
	if err := runTool(ctx, g.Root, "groupmod", append(args, g.Name)...); err != nil {
		return false, &engine.ChangeError{Property: "gid", From: is, To: should, Err: err}
	}
	return false, nil
}
