package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// puppetlabs-concat's types. Concat_fragment does nothing by itself; Concat_file
// does nothing by itself either, but generates, as the module's eval_generate does,
// a File resource whose content is its fragments in order. The generated File sits
// beside the Concat_file in its container, runs after it, and its events reach
// whatever the Concat_file notifies.
func init() {
	register("Concat_fragment", Native{Namevar: "name", Build: buildConcatFragment, Together: true})
	register("Concat_file", Native{
		Together: true,
		Namevar:  "path", Canonical: canonicalPath, Build: buildConcatFile,
		Ignorable: []string{"show_diff", "selinux_ignore_defaults", "selrange", "selrole", "seltype", "seluser"},
	})
}

// concatFragment is a Concat_fragment: inert, it holds what Concat_file collects.
type concatFragment struct {
	resources.Inert
	name, target, tag, order, content string
}

// concatFile is a Concat_file: inert, it holds what the generated File needs.
type concatFile struct {
	resources.Inert
	path, tag, order string
	absent           bool
	ensureNewline    bool
	file             resources.File // mode, owner, group, replace, backup
}

func buildConcatFragment(p *Params) engine.Resource {
	f := &concatFragment{name: p.Namevar("name")}
	f.target = p.String("target", "")
	f.tag = p.String("tag", "")
	f.order = p.String("order", "10")
	if strings.ContainsAny(f.order, ":\n/") {
		p.Errorf("order", "Order cannot contain '/', ':', or '\\n'.")
	}
	if p.Has("source") {
		p.Raw("source")
		p.Errorf("source", "fragment sources are not supported yet; use content")
	}
	content, hasContent := p.OptString("content")
	f.content = content
	switch {
	case f.target == "" && f.tag == "":
		p.Errorf("target", "No 'target' or 'tag' set")
	case !hasContent && !p.Has("source"):
		p.Errorf("content", "Set either 'source' or 'content'")
	}
	return f
}

func buildConcatFile(p *Params) engine.Resource {
	c := &concatFile{path: p.Namevar("path")}
	if !filepath.IsAbs(c.path) {
		p.Errorf("path", "File paths must be fully qualified, not '%s'", c.path)
	}
	c.path = canonicalPath(c.path)
	c.absent = ensureAbsent(p)
	c.tag = p.String("tag", "")
	c.order = p.String("order", "numeric")
	if c.order != "numeric" && c.order != "alpha" {
		p.Errorf("order", "Invalid value %q. Valid values are alpha, numeric.", c.order)
	}
	c.ensureNewline = p.Bool("ensure_newline", false)
	if f := p.String("format", "plain"); f != "plain" {
		p.Errorf("format", "format %s is not supported yet; only plain is", f)
	}
	p.Bool("force", false) // merges yaml and json formats only
	c.file.Mode = fileMode(p)
	c.file.Owner = p.String("owner", "")
	c.file.Group = p.String("group", "")
	c.file.Replace = p.Bool("replace", true)
	// The concat define backs up to the filebucket "puppet" by default; there is no
	// filebucket here yet, so that backup is not made (docs/known-differences.md).
	// A suffix backup is made.
	if v, ok := p.Raw("backup"); ok {
		if s, isString := v.(string); isString && strings.HasPrefix(s, ".") {
			c.file.Backup = s
		} else if b, isBool := v.(bool); isBool && b {
			c.file.Backup = ".puppet-bak"
		}
	}
	c.file.ValidateCmd, c.file.ValidateReplacement = validateCmd(p)
	return c
}

// generateConcats adds, for every Concat_file, the File it generates, and routes
// the Concat_file's outgoing edges through a relay that both precede, so that the
// File's events reach the Concat_file's dependents.
func (t *translation) generateConcats() {
	var frags []*concatFragment
	for _, it := range t.resources {
		if f, ok := it.res().(*concatFragment); ok {
			frags = append(frags, f)
		}
	}
	for _, it := range t.resources {
		c, ok := it.res().(*concatFile)
		if !ok {
			continue
		}
		var mine []*concatFragment
		for _, f := range frags {
			if f.target == c.path || f.target == it.r.Title || (f.tag != "" && f.tag == c.tag) {
				mine = append(mine, f)
			}
		}
		content := concatContent(mine, c.order, c.ensureNewline)
		ref := "File[" + c.path + "]"
		if _, dup := t.byKey[t.key("File", c.path)]; dup {
			t.problem("%s: generates %s, which the catalog declares too", it.r.Ref(), ref)
			continue
		}
		f := c.file
		f.Path, f.Ensure, f.Content = c.path, "file", &content
		if c.absent {
			f.Ensure, f.Content = "absent", nil
		}
		if err := f.Validate(); err != nil {
			t.problem("%s: %v", it.r.Ref(), err)
			continue
		}
		parent := it.meta.Containment[:len(it.meta.Containment)-1]
		containment := append(append([]string(nil), parent...), ref)
		meta := &Meta{Type: "File", Title: c.path,
			Containment: containment, Tags: uniqSorted(append([]string{"file"}, it.meta.Tags...)),
			ResourceTags: append([]string{"file"}, it.r.Tags...), Loglevel: it.meta.Loglevel}
		sum := sha256.Sum256([]byte(ref + "\x00" + content + "\x00" + f.Mode + "\x00" + f.Owner + "\x00" + f.Group + "\x00" + f.Ensure))
		v := &engine.Vertex{Name: ref, Resource: &f, Data: meta, Noop: it.noop, Skip: it.skip,
			Fingerprint: hex.EncodeToString(sum[:16])}
		if !t.addVertex(v) {
			continue // a duplicate: the catalog is refused, for that
		}
		sentinel := &engine.Vertex{Name: "Whit[Completed_concat_file[" + it.r.Title + "]]", Relay: true}
		t.addVertex(sentinel)
		t.link(it.start, v, true)
		// As any File, it autorequires its nearest managed parent directory.
		for dir := filepath.Dir(c.path); ; dir = filepath.Dir(dir) {
			if p, ok := t.byKey[t.key("File", dir)]; ok {
				t.edge(p.r.Ref(), ref, false)
				break
			}
			if dir == "/" {
				break
			}
		}
		t.link(v, sentinel, true)
		t.link(it.start, sentinel, true)
		it.end = sentinel
	}
}

// concatContent joins fragments as concat_file's should_content does for the plain
// format: sorted by order then name, alphabetically, or with numeric parts compared
// as numbers.
func concatContent(frags []*concatFragment, order string, ensureNewline bool) string {
	sorted := append([]*concatFragment(nil), frags...)
	less := func(a, b *concatFragment) bool {
		if a.order != b.order {
			return a.order < b.order
		}
		return a.name < b.name
	}
	if order == "numeric" {
		less = func(a, b *concatFragment) bool {
			if c := compareDecompound(a.order, b.order); c != 0 {
				return c < 0
			}
			return compareDecompound(a.name, b.name) < 0
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool { return less(sorted[i], sorted[j]) })
	var b strings.Builder
	for _, f := range sorted {
		b.WriteString(f.content)
		if ensureNewline && !strings.HasSuffix(f.content, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// compareDecompound compares as concat's decompound does: all-digit strings as
// numbers (before other strings), the rest as strings.
func compareDecompound(a, b string) int {
	na, errA := strconv.Atoi(a)
	nb, errB := strconv.Atoi(b)
	switch {
	case errA == nil && errB == nil:
		return na - nb
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}
