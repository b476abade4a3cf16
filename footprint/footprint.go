package footprint

import (
	"path"
	"strings"
)

// All is the key that covers every other: an access to it with Tree says "anything".
const All = ""

// Access is one key a resource reads or writes.
type Access struct {
	// Key is an absolute filesystem path, NAMESPACE+":"+absolute path for other
	// namespaces ("systemd:/units/ssh.service"), or All.
	Key string
	// Tree: the key and everything under it.
	Tree bool
	// Write: the resource may change it; otherwise it only reads it.
	Write bool
}

func (a Access) String() string {
	s := a.Key
	if s == All {
		s = "everything"
	} else if a.Tree {
		s = strings.TrimSuffix(s, "/") + "/**"
	}
	if a.Write {
		return "writes " + s
	}
	return "reads " + s
}

// Footprint is what one resource may read or change.
type Footprint struct {
	Accesses []Access
	// Group: resources with the same non-empty Group never conflict with each other.
	Group string
	// Why says, when the footprint is everything, what made it so ("command
	// a2enmod is not known").
	Why string
}

// String lists the accesses ("reads /bin/rm, writes /etc/x/**"), or says that f may
// change anything and why.
func (f Footprint) String() string {
	if f.Why != "" {
		return "everything: " + f.Why
	}
	s := make([]string, len(f.Accesses))
	for i, a := range f.Accesses {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// Empty reports whether f touches nothing (a Notify).
func (f Footprint) Empty() bool { return len(f.Accesses) == 0 }

// Path is an exact access to the filesystem path p, cleaned.
func Path(p string, write bool) Access { return Access{Key: path.Clean(p), Write: write} }

// Tree is an access to the filesystem path p and everything under it.
func Tree(p string, write bool) Access { return Access{Key: path.Clean(p), Tree: true, Write: write} }

// Name is an access to key p of namespace ns ("systemd", "/units/ssh.service").
func Name(ns, p string, tree, write bool) Access {
	return Access{Key: ns + ":" + path.Clean("/"+p), Tree: tree, Write: write}
}

// Everything is a footprint that may write anything, with the reason.
func Everything(why string) Footprint {
	return Footprint{Accesses: []Access{{Key: All, Tree: true, Write: true}}, Why: why}
}

// ReadsEverything is an access that may read anything.
var ReadsEverything = Access{Key: All, Tree: true}

// components splits a key into its trie path: the namespace ("" for the
// filesystem), then the path's elements. All has none.
func components(key string) []string {
	if key == All {
		return nil
	}
	ns := ""
	if i := strings.IndexByte(key, ':'); i >= 0 && !strings.HasPrefix(key, "/") {
		ns, key = key[:i], key[i+1:]
	}
	out := []string{ns}
	for _, p := range strings.Split(key, "/") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Overlap reports whether a and b conflict: their keys overlap and one writes. A
// write of a key overlaps everything under it: what is under a path needs the path
// to exist (an exec writing /x/y after a File creating the directory /x), so a
// write of the path changes it too. A write under a key does not overlap an exact
// read of the key: files in one directory stay independent.
func Overlap(a, b Access) bool {
	if !a.Write && !b.Write {
		return false
	}
	ca, cb := components(a.Key), components(b.Key)
	n := min(len(ca), len(cb))
	for i := 0; i < n; i++ {
		if ca[i] != cb[i] {
			return false
		}
	}
	switch {
	case len(ca) == len(cb):
		return true
	case len(ca) < len(cb):
		return a.Tree || a.Write
	default:
		return b.Tree || b.Write
	}
}

// Conflicts reports whether resources with footprints a and b may interfere, and the
// first pair of accesses that says so.
func Conflicts(a, b Footprint) (Access, Access, bool) {
	if a.Group != "" && a.Group == b.Group {
		return Access{}, Access{}, false
	}
	for _, x := range a.Accesses {
		for _, y := range b.Accesses {
			if Overlap(x, y) {
				return x, y, true
			}
		}
	}
	return Access{}, Access{}, false
}
