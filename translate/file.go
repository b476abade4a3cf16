package translate

import (
	"encoding/base64"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

func init() {
	register("File", Native{
		Namevar:     "path",
		Canonical:   canonicalPath,
		Build:       buildFile,
		Autorequire: fileAutorequire,
		Consumable:  true,
		Redactable: []string{"ensure", "content", "target", "owner", "group", "mode",
			"checksum_value", "ctime", "mtime", "seltype", "selrange", "selrole", "seluser", "type"},
		// Parameters that change nothing here: SELinux, read-only properties,
		// and max_files (recursion has no file limit here).
		Ignorable: []string{
			"selinux_ignore_defaults", "seluser", "selrole", "seltype", "selrange",
			"provider", "max_files",
			"ctime", "mtime", "type", "staging_location",
		},
	})
}

// canonicalPath is Puppet's file path munging: an absolute path is cleaned (trailing
// slashes, "//", "." and ".." go, as with Ruby's File.expand_path); "/" stays "/".
func canonicalPath(s string) string {
	if filepath.IsAbs(s) {
		return filepath.Clean(s)
	}
	if t := strings.TrimRight(s, "/"); t != "" {
		return t
	}
	return s
}

// fileEnsures are the ensure values Puppet knows ("false" is an alias of absent).
var fileEnsures = map[string]string{
	"present": "present", "absent": "absent", "false": "absent",
	"file": "file", "directory": "directory", "link": "link",
}

// buildFile reads Puppet's file parameters (lib/puppet/type/file.rb and file/*.rb).
// Parameters not read here and not ignorable (validate_cmd, source_permissions,
// checksum_value...) are reported as not supported yet.
// validateCmd reads validate_cmd and validate_replacement (File's and
// Concat_file's).
func validateCmd(p *Params) (cmd, replacement string) {
	cmd = p.String("validate_cmd", "")
	replacement = p.String("validate_replacement", "%")
	if cmd == "" {
		return "", ""
	}
	if replacement == "" {
		p.Errorf("validate_replacement", "must not be empty")
	}
	return cmd, replacement
}

// contentBytes is a content value: a string, or a Binary (Puppet's binary_file
// function, or a String run through Binary()), whose bytes are written as they are.
func contentBytes(p *Params, v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case catalog.Typed:
		if s, ok := x.Value.(string); ok && x.Type == "Binary" {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				p.Errorf("content", "invalid Binary: %v", err)
				return "", false
			}
			return string(b), true
		}
	}
	p.Errorf("content", "want a string, got %s", describe(v))
	return "", false
}

func buildFile(p *Params) engine.Resource {
	f := &resources.File{Replace: true}
	path := p.Namevar("path")
	if !filepath.IsAbs(path) {
		p.Errorf("path", "File paths must be fully qualified, not '%s'", path)
	}
	f.Path = canonicalPath(path)

	if s, ok := p.OptString("ensure"); ok {
		switch e, known := fileEnsures[s]; {
		case known:
			f.Ensure = e
		case filepath.IsAbs(s):
			// ensure => '/target' means a link to it.
			f.Ensure, f.Target = "link", s
		default:
			p.Errorf("ensure", "invalid value %q, want present, absent, file, directory, link or an absolute link target", s)
		}
	}
	if v, ok := p.Raw("content"); ok {
		if s, isContent := contentBytes(p, v); isContent {
			f.Content = &s
			f.ContentSensitive = p.Sensitive("content")
		}
	}
	if t, ok := p.OptString("target"); ok {
		f.Target = t
	}
	if p.Has("source") {
		f.Source = p.Strings("source")
	}
	if f.Ensure == "" {
		// As Puppet's file type does on creation.
		switch {
		case f.Target != "":
			f.Ensure = "link"
		case f.Content != nil, len(f.Source) > 0:
			f.Ensure = "file"
		}
	}
	if f.Ensure == "link" && f.Target == "" {
		p.Errorf("target", "Cannot create a symlink without a target")
	}

	f.Mode = fileMode(p)
	f.Owner = p.String("owner", "")
	if p.Has("owner") && f.Owner == "" {
		p.Errorf("owner", "Invalid owner name ''")
	}
	f.Group = p.String("group", "")
	if p.Has("group") && f.Group == "" {
		p.Errorf("group", "Invalid group name ''")
	}
	f.Force = p.Bool("force", false)
	f.Replace = p.Bool("replace", true)
	f.ShowDiff = p.Bool("show_diff", true)
	f.Backup = fileBackup(p)
	f.ValidateCmd, f.ValidateReplacement = validateCmd(p)
	f.Checksum = fileChecksum(p)

	if s, ok := p.OptString("links"); ok && s != "manage" {
		if s == "follow" {
			p.Unsupportedf("links", "follow")
		} else {
			p.Errorf("links", "invalid value %q, want manage or follow", s)
		}
	}
	fileRecurse(p, f)
	return f
}

// fileRecurse reads recurse, recurselimit, purge, ignore and sourceselect.
func fileRecurse(p *Params, f *resources.File) {
	if v, ok := p.Raw("recurse"); ok {
		switch s, _ := scalarString(v); s {
		case "true":
			f.Recurse = "true"
		case "remote":
			f.Recurse = "remote"
		case "false":
		default:
			p.Errorf("recurse", "Invalid recurse value %s, want true, false or remote", describe(v))
		}
	}
	if v, ok := p.Raw("recurselimit"); ok {
		s, _ := scalarString(v)
		n, err := strconv.Atoi(s)
		switch {
		case err != nil || n < 0 || strings.HasPrefix(s, "+"):
			p.Errorf("recurselimit", "Invalid recurselimit value %s", describe(v))
		case n == 0:
			f.Recurse = "" // Puppet: the same as recurse => false
		default:
			f.RecurseLimit = n
		}
	}
	f.Purge = p.Bool("purge", false)
	if v, ok := p.Raw("ignore"); ok && !isFalse(v) {
		f.Ignore = p.Strings("ignore")
	}
	if s := p.Enum("sourceselect", "first", "first", "all"); s == "all" {
		p.Unsupportedf("sourceselect", "all")
	}
	if f.Recurse != "" && f.Content != nil {
		p.Unsupportedf("recurse", "content with recurse")
	}
}

// linkRecursiveFiles tells every recursing File which paths below it other File
// resources manage, since Puppet leaves those and everything under them to their
// own resources, and the containment that its generated children's log lines
// name. It runs once all resources are built.
func (t *translation) linkRecursiveFiles() {
	var recursing []*item
	for _, it := range t.resources {
		if f, ok := it.res().(*resources.File); ok && f.Recurse != "" {
			recursing = append(recursing, it)
		}
	}
	if len(recursing) == 0 {
		return
	}
	var paths []string
	for _, it := range t.resources {
		switch r := it.res().(type) {
		case *resources.File:
			paths = append(paths, r.Path)
		case *concatFile:
			paths = append(paths, r.path) // it generates File[path]
		}
	}
	sort.Strings(paths)
	for _, it := range recursing {
		f := it.res().(*resources.File)
		prefix := strings.TrimSuffix(f.Path, "/") + "/"
		f.Managed = nil
		for i := sort.SearchStrings(paths, prefix); i < len(paths) && strings.HasPrefix(paths[i], prefix); i++ {
			f.Managed = append(f.Managed, paths[i])
		}
		c := it.meta.Containment
		f.LogContainer = "/" + strings.Join(c[:len(c)-1], "/")
	}
}

// fileMode reads mode: a string, octal or symbolic; empty when unset.
func fileMode(p *Params) string {
	v, ok := p.Raw("mode")
	if !ok {
		return ""
	}
	s, isString := v.(string)
	if !isString {
		p.Errorf("mode", "The file mode specification must be a string, not %s; quote it", describe(v))
		return ""
	}
	if err := resources.ValidFileMode(s); err != nil {
		p.Errorf("mode", "%v", err)
		return ""
	}
	return s
}

// ensureAbsent reads an ensure that is present (the default) or absent.
func ensureAbsent(p *Params) bool {
	switch e := p.String("ensure", "present"); e {
	case "present":
	case "absent":
		return true
	default:
		p.Errorf("ensure", "Invalid value %q. Valid values are present, absent.", e)
	}
	return false
}

// isFalse reports whether a parameter value is Puppet's false.
func isFalse(v any) bool {
	switch x := v.(type) {
	case bool:
		return !x
	case string:
		return x == "false"
	}
	return false
}

// fileBackup reads backup: false means none, true means Puppet's ".puppet-bak" suffix,
// a string starting with "." is a suffix; a filebucket name is not supported.
func fileBackup(p *Params) string {
	v, ok := p.Raw("backup")
	if !ok {
		return ""
	}
	if b, isBool := v.(bool); isBool {
		if b {
			return ".puppet-bak"
		}
		return ""
	}
	s, isString := v.(string)
	switch {
	case !isString:
		p.Errorf("backup", "want false, true or a suffix, got %s", describe(v))
	case s == "" || s == "false":
	case s == "true":
		return ".puppet-bak"
	case strings.HasPrefix(s, "."):
		return s
	default:
		p.Unsupportedf("backup", "filebucket %q", s)
	}
	return ""
}

// fileChecksum reads checksum; the digests File compares content with are supported.
func fileChecksum(p *Params) string {
	s, ok := p.OptString("checksum")
	if !ok {
		return ""
	}
	for _, c := range resources.FileChecksums {
		if s == c {
			return s
		}
	}
	switch s {
	case "md5lite", "sha256lite", "sha1", "sha1lite", "mtime", "ctime", "none":
		p.Unsupportedf("checksum", "%s", s)
	default:
		p.Errorf("checksum", "invalid value %q", s)
	}
	return ""
}

// fileAutorequire lists, as Puppet's file type does: the managed parent directories
// nearest first (only the nearest one in the catalog counts), the link target, and
// the owner and group when given by name. It reads the raw values so that problems
// Build reported are not reported twice.
func fileAutorequire(p *Params) [][]Ref {
	str := func(name string) string {
		v, _ := p.Raw(name)
		s, _ := v.(string)
		return s
	}
	path := str("path")
	if path == "" {
		path = p.Title()
	}
	path = canonicalPath(path)
	var groups [][]Ref
	if filepath.IsAbs(path) && path != "/" {
		parents := make([]Ref, 0, strings.Count(path, "/"))
		for d := filepath.Dir(path); ; d = filepath.Dir(d) {
			parents = append(parents, Ref{"File", d})
			if d == "/" {
				break
			}
		}
		groups = append(groups, parents)
	}
	target := str("target")
	if e := str("ensure"); target == "" && filepath.IsAbs(e) {
		target = e
	}
	if filepath.IsAbs(target) {
		groups = append(groups, []Ref{{"File", canonicalPath(target)}})
	}
	for _, x := range []struct{ param, typ string }{{"owner", "User"}, {"group", "Group"}} {
		if name := str(x.param); name != "" && !isNumeric(name) {
			groups = append(groups, []Ref{{x.typ, name}})
		}
	}
	return groups
}

func isNumeric(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
