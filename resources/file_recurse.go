package resources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Recursion, as Puppet 7's file type does it (lib/puppet/type/file.rb, recurse and
// newchild; file_serving/fileset.rb). A recursing directory stands for one child
// File per path found below it, locally (Recurse "true") or in its source
// directory: a child gets the parent's parameters except ensure, source, target
// and recursion; a child the source has is copied from it, one it does not have is
// removed when purging, and otherwise only its mode, owner and group are managed.
// Paths at or below another File resource of the catalog are left to it. Each
// child logs as its own resource (/Stage[main]/Main/File[/dir/child]/ensure: ...),
// in path order.

// Recurse values.
const (
	recurseTrue   = "true"
	recurseRemote = "remote"
)

// checkRecurse validates the recursion parameters.
func (f *File) checkRecurse() error {
	switch f.Recurse {
	case "", recurseTrue:
	case recurseRemote:
		if len(f.Source) == 0 {
			return fmt.Errorf("You cannot specify a remote recursion without a source")
		}
	default:
		return fmt.Errorf("Invalid recurse value %q", f.Recurse)
	}
	if f.RecurseLimit < 0 {
		return fmt.Errorf("Invalid recurselimit value %d", f.RecurseLimit)
	}
	if f.Recurse != "" && f.Content != nil && !f.fromSource() {
		return fmt.Errorf("content with recurse is not supported yet")
	}
	for _, p := range f.Ignore {
		if _, err := filepath.Match(ignorePattern(p), ""); err != nil {
			return fmt.Errorf("ignore %q: %v", p, err)
		}
	}
	return nil
}

// child is one path recursion manages: relative to the parent, with the local
// path of its source ("" for none) and the source's type.
type child struct {
	rel, src string
	typ      fs.FileMode
}

// recurse checks, and with apply repairs, every child; a child's failure is
// logged against it and fails the parent once all were tried.
func (f *File) recurse(ctx context.Context, apply bool) (bool, error) {
	if f.Ensure == ensureAbsent {
		return true, nil
	}
	kids, dirs := f.children()
	ok, failed := true, 0
	for _, k := range kids {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		c := f.newChild(k)
		h := &childHandle{parent: f.h, source: f.LogContainer + "/File[" + c.Path + "]", apply: apply}
		c.h = h
		inSync, err := c.checkPath(ctx, apply)
		h.flush(err)
		if err != nil {
			failed++
		}
		ok = ok && inSync
	}
	if f.more != nil && f.more.tree != nil && f.more.tree.watching() {
		if !ok {
			_, dirs = f.children() // what was just created or removed
		}
		f.more.tree.set(dirs)
	}
	if failed > 0 {
		return false, fmt.Errorf("%d of the files in %s failed", failed, f.Path)
	}
	return ok, nil
}

// children lists the paths recursion manages, sorted, and the directories whose
// contents it manages (to watch).
func (f *File) children() ([]child, []string) {
	byRel := map[string]child{}
	var dirs []string
	if f.Recurse == recurseTrue {
		entries, d := walkTree(f.Path, f.RecurseLimit, f.Ignore)
		dirs = append(dirs, d...)
		for _, e := range entries {
			byRel[e.rel] = child{rel: e.rel}
		}
	}
	if src := f.sourceDir(); src != "" {
		entries, d := walkTree(src, f.RecurseLimit, f.Ignore)
		dirs = append(dirs, d...)
		for _, e := range entries {
			if e.typ&^(fs.ModeDir|fs.ModeSymlink) != 0 {
				continue // a fifo, socket or device is not copied
			}
			byRel[e.rel] = child{rel: e.rel, src: filepath.Join(src, e.rel), typ: e.typ}
		}
	}
	managed := make(map[string]bool, len(f.Managed))
	for _, m := range f.Managed {
		managed[m] = true
	}
	out := make([]child, 0, len(byRel))
	for rel, c := range byRel {
		if !f.leftToOthers(rel, managed) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return filepath.Join(f.Path, out[i].rel) < filepath.Join(f.Path, out[j].rel)
	})
	return out, dirs
}

// leftToOthers reports whether rel, or a directory above it, is managed by
// another File resource (Puppet's remove_less_specific_files).
func (f *File) leftToOthers(rel string, managed map[string]bool) bool {
	if len(managed) == 0 {
		return false
	}
	for p := rel; p != "." && p != "/"; p = filepath.Dir(p) {
		if managed[filepath.Join(f.Path, p)] {
			return true
		}
	}
	return false
}

// newChild is the File Puppet's newchild would make for c.
func (f *File) newChild(c child) *File {
	k := &File{
		Path: filepath.Join(f.Path, c.rel), Mode: f.Mode, Owner: f.Owner, Group: f.Group,
		Force: f.Force, Replace: f.Replace, Backup: f.Backup, Checksum: f.Checksum, ShowDiff: f.ShowDiff,
	}
	switch {
	case c.src != "" && c.typ.IsDir():
		k.Ensure = ensureDirectory
	case c.src != "" && c.typ&fs.ModeSymlink != 0:
		// links => manage copies the link itself.
		if target, err := os.Readlink(c.src); err == nil {
			k.Ensure, k.Target = ensureLink, target
		}
	case c.src != "":
		k.Ensure, k.Source = ensureFile, []string{c.src}
	case f.Purge && f.Recurse == recurseTrue:
		k.Ensure = ensureAbsent
	}
	return k
}

// entry is one path walkTree found.
type entry struct {
	rel string
	typ fs.FileMode
}

// walkTree lists what is below root as Puppet's fileset does: breadth first, at
// most limit levels deep (0: no limit), without following symbolic links, leaving
// out (and not descending into) names that match an ignore pattern. It also
// returns the directories it listed. A directory it cannot read has no entries.
func walkTree(root string, limit int, ignore []string) ([]entry, []string) {
	var out []entry
	var dirs []string
	type level struct {
		rel   string
		depth int
	}
	queue := []level{{rel: ".", depth: 0}}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if limit > 0 && cur.depth >= limit {
			continue
		}
		list, err := os.ReadDir(filepath.Join(root, cur.rel))
		if err != nil {
			continue
		}
		dirs = append(dirs, filepath.Join(root, cur.rel))
		for _, d := range list {
			if ignored(d.Name(), ignore) {
				continue
			}
			rel := filepath.Join(cur.rel, d.Name())
			out = append(out, entry{rel: rel, typ: d.Type()})
			if d.IsDir() {
				queue = append(queue, level{rel: rel, depth: cur.depth + 1})
			}
		}
	}
	return out, dirs
}

// ignored matches a name as Ruby's File.fnmatch does without flags: wildcards and
// brackets do not match a leading period.
func ignored(name string, patterns []string) bool {
	for _, p := range patterns {
		if strings.HasPrefix(name, ".") && !strings.HasPrefix(p, ".") && !strings.HasPrefix(p, `\.`) {
			continue
		}
		if ok, _ := filepath.Match(ignorePattern(p), name); ok {
			return true
		}
	}
	return false
}

// ignorePattern turns Ruby's bracket negation [!...] into Go's [^...].
func ignorePattern(p string) string {
	return strings.ReplaceAll(p, "[!", "[^")
}

// childHandle gives a generated child its own log source: its lines are printed
// as the lines of a resource File[child] beside its parent, as Puppet prints the
// resources it generates. Changes are held until the child's check ends, so that
// a change that failed is reported as its error only, as the engine does.
type childHandle struct {
	parent  engine.Handle
	source  string // "/Stage[main]/Main/File[/dir/child]"
	apply   bool
	pending []engine.Change
}

var _ engine.Handle = (*childHandle)(nil)

func (h *childHandle) Poke()                  { h.parent.Poke() }
func (h *childHandle) Change(c engine.Change) { h.pending = append(h.pending, c) }

func (h *childHandle) Logf(level engine.Level, format string, args ...any) {
	h.parent.Printf(level, "%s: %s", h.source, fmt.Sprintf(format, args...))
}

func (h *childHandle) PropertyLogf(level engine.Level, property, format string, args ...any) {
	h.parent.Printf(level, "%s/%s: %s", h.source, property, fmt.Sprintf(format, args...))
}

func (h *childHandle) Printf(level engine.Level, format string, args ...any) {
	h.parent.Printf(level, format, args...)
}

// flush prints the held changes and err as the engine's log would.
func (h *childHandle) flush(err error) {
	var ce *engine.ChangeError
	failed := ""
	if errors.As(err, &ce) {
		failed = ce.Property
	}
	for _, c := range h.pending {
		switch {
		case c.Property == failed:
		case !h.apply:
			h.parent.Printf(engine.Notice, "%s/%s: current_value %s, should be %s (noop)",
				h.source, c.Property, engine.QuoteValue(c.Previous), engine.QuoteValue(c.Desired))
		default:
			h.parent.Printf(engine.Notice, "%s/%s: %s", h.source, c.Property, c.Message)
		}
	}
	h.pending = nil
	switch {
	case ce != nil:
		h.parent.Printf(engine.Err, "%s", ce.Cause("", 0))
		h.parent.Printf(engine.Err, "%s/%s: %v", h.source, ce.Property, ce)
	case err != nil:
		h.parent.Printf(engine.Err, "%s: Could not evaluate: %v", h.source, err)
	}
}
