package resources

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// A File's source: Puppet URLs resolved here, without a Puppet server.
// puppet:///modules/M/P is M/files/P under the first module path entry that has
// it; puppet:///MOUNT/P, of another mount of the server (fileserver.conf), is
// MOUNT/P under ModuleRoots.Mounts, where an agent put its copies; file:///P and
// /P are local paths. The first source that exists gives the content, read at
// every check, so that a changed source is applied again; the local sources are
// watched too. Sources of other hosts or schemes (puppet://HOST/, http(s)://) are
// Puppet's to fetch: UnfetchableSources names them, and translate hands such a
// File to Puppet.

// checkSource validates the source URLs, but for those UnfetchableSources names
// and those whose path Puppet's file server refuses (the File fails at its check,
// as Puppet's, rather than the catalog).
func (f *File) checkSource() error {
	for _, s := range f.Source {
		_, err := f.sourceCandidates(s)
		if err != nil && !unfetchable(s, f.Modules) && !errors.Is(err, errServedPath) {
			return err
		}
	}
	if len(f.Source) > 0 && f.Content != nil && !f.fromSource() {
		return fmt.Errorf("You cannot specify more than one of content, source, target")
	}
	return nil
}

// errServedPath marks a puppet:/// path that Puppet's file server refuses.
var errServedPath = errors.New("Cannot find file")

// ServedPathError is the error Puppet's file server gives for the path of a
// puppet:/// URL (/MOUNT/P), nil for one it serves: a mount name of letters,
// digits, _ and -, and no .. in the rest. Such a path is never asked of a server
// nor looked up in a copy, and its File fails at its check, as Puppet's does.
func ServedPathError(path string) error {
	mount, rest := SplitServed(path)
	if !mountName.MatchString(mount) {
		return fmt.Errorf("%w: Invalid mount '%s'", errServedPath, mount)
	}
	if slices.Contains(strings.Split(rest, "/"), "..") {
		return fmt.Errorf("%w: Invalid relative path '%s'", errServedPath, rest)
	}
	return nil
}

// SplitServed splits the path of a puppet:/// URL (/MOUNT/P) into the mount's
// name and the path in it.
func SplitServed(path string) (mount, rest string) {
	mount, rest, _ = strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return mount, rest
}

// mountName is what Puppet's file server takes as a mount's name.
var mountName = regexp.MustCompile(`^[-\w]+$`)

// UnfetchableSources lists the sources of f that it cannot have without Puppet,
// with m as where it finds them: those of another host or scheme (puppet://HOST/,
// http(s)://), and those of a mount other than modules unless m holds an agent's
// copies of them (Mounts).
func (f *File) UnfetchableSources(m *ModuleRoots) []string {
	var out []string
	for _, s := range f.Source {
		if unfetchable(s, m) {
			out = append(out, s)
		}
	}
	return out
}

// unfetchable says whether source s, a URL Puppet takes, is one File cannot have
// itself with m.
func unfetchable(s string, m *ModuleRoots) bool {
	if strings.HasPrefix(s, "/") {
		return false
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return false // invalid: Validate says so
	case u.Scheme == "file":
		return false
	case u.Scheme == "puppet" && u.Host == "":
		mount, _ := SplitServed(u.Path)
		return mount != "modules" && m.mounts() == ""
	case u.Scheme == "puppet", u.Scheme == "http", u.Scheme == "https":
		return true
	}
	return false // not a source Puppet takes either: Validate says so
}

// sourceCandidates are the local paths a source URL may name, in order.
func (f *File) sourceCandidates(s string) ([]string, error) {
	if strings.HasPrefix(s, "/") {
		return []string{filepath.Clean(s)}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("source %q: %v", s, err)
	}
	switch {
	case u.Scheme == "file" && filepath.IsAbs(u.Path):
		return []string{filepath.Clean(u.Path)}, nil
	case u.Scheme == "puppet" && u.Host == "":
		if err := ServedPathError(u.Path); err != nil {
			return nil, fmt.Errorf("source %q: %w", s, err)
		}
		mount, rest := SplitServed(u.Path)
		if mount != "modules" {
			if mount == "" || f.Modules.mounts() == "" {
				return nil, fmt.Errorf("source %q: only puppet:///modules/MODULE/FILE is read without a server (an agent fetches the other mounts)", s)
			}
			return []string{filepath.Join(f.Modules.mounts(), filepath.Clean(u.Path))}, nil
		}
		module, file, found := strings.Cut(rest, "/")
		if !found || module == "" || file == "" {
			return nil, fmt.Errorf("source %q: only puppet:///modules/MODULE/FILE is supported", s)
		}
		var out []string
		for _, dir := range f.Modules.dirs() {
			out = append(out, filepath.Join(dir, module, "files", filepath.Clean("/"+file)))
		}
		return out, nil
	case u.Scheme == "puppet", u.Scheme == "http", u.Scheme == "https":
		return nil, fmt.Errorf("source %q: fetching from another host is Puppet's (mgmt-puppet hands such a File to Puppet when it is installed)", s)
	}
	return nil, fmt.Errorf("source %q: only puppet:///..., file:// and absolute paths are supported", s)
}

// findSource returns the local path of the first source that exists, and what it
// is.
func (f *File) findSource() (string, os.FileInfo, error) {
	for _, s := range f.Source {
		if f.Modules != nil {
			if err := f.Modules.Unavailable[s]; err != nil {
				return "", nil, fmt.Errorf("Could not retrieve file metadata for %s: %v", s, err)
			}
		}
		paths, err := f.sourceCandidates(s)
		if err != nil {
			return "", nil, err
		}
		for _, p := range paths {
			if info, err := os.Stat(p); err == nil {
				return p, info, nil
			}
		}
	}
	// Puppet munges absolute paths into file:// URLs, and names them so.
	shown := make([]string, len(f.Source))
	for i, s := range f.Source {
		if strings.HasPrefix(s, "/") {
			s = "file://" + s
		}
		shown[i] = s
	}
	return "", nil, fmt.Errorf("Could not retrieve information from environment %s source(s) %s", f.environment(), strings.Join(shown, ", "))
}

func (f *File) environment() string {
	if f.Modules == nil || f.Modules.Environment == "" {
		return "production"
	}
	return f.Modules.Environment
}

// loadSource makes the source what is wanted, as Puppet's copy_source_values does:
// the source's type becomes ensure (unless absent), and a file's content the
// content. A directory source's contents are copied only with Recurse.
func (f *File) loadSource() error {
	p, info, err := f.findSource()
	if err != nil {
		return err
	}
	x := f.extra()
	if info.IsDir() {
		x.sourceDir = p
		if f.Ensure != ensureAbsent {
			f.Ensure = ensureDirectory
		}
		if x.fromSource {
			f.Content, f.want, x.fromSource = nil, "", false
		}
		return nil
	}
	x.sourceDir = ""
	if f.Ensure != ensureAbsent {
		f.Ensure = ensureFile
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	content := string(data)
	if f.Content == nil || *f.Content != content {
		f.Content, f.want, x.fromSource = &content, "", true
	}
	return nil
}

// ModuleRoots says where puppet:/// sources are found: the module path, an
// agent's copies of other mounts, and the environment named in errors. One is
// shared by the Files of a catalog.
type ModuleRoots struct {
	Dirs        []string
	Environment string
	// Unavailable are sources whose server could not be asked (an agent's run
	// with the server gone), with why: a File with one fails as Puppet's does
	// when it cannot have the source's metadata.
	Unavailable map[string]error
	// Mounts, when set, holds the copies of the server's other mounts that an
	// agent fetched: puppet:///MOUNT/P is Mounts/MOUNT/P.
	Mounts string
}

// In is m for a catalog of environment env: "$environment" in its folders
// replaced by env, as in Puppet's modulepath setting, and env named in errors.
func (m *ModuleRoots) In(env string) *ModuleRoots {
	out := *m
	out.Dirs = make([]string, len(m.Dirs))
	for i, d := range m.Dirs {
		out.Dirs[i] = strings.ReplaceAll(d, "$environment", env)
	}
	out.Mounts = strings.ReplaceAll(m.Mounts, "$environment", env)
	out.Environment = env
	return &out
}

func (m *ModuleRoots) dirs() []string {
	if m == nil {
		return nil
	}
	return m.Dirs
}

func (m *ModuleRoots) mounts() string {
	if m == nil {
		return ""
	}
	return m.Mounts
}

// SetModules sets where puppet:/// sources are found.
func (f *File) SetModules(m *ModuleRoots) { f.Modules = m }

// watchSources watches the local paths the sources may name, with the watcher
// the path itself uses.
func (f *File) watchSources(ctx context.Context) error {
	if len(f.Source) == 0 {
		return nil
	}
	x := f.extra()
	for _, s := range f.Source {
		candidates, err := f.sourceCandidates(s)
		if err != nil {
			return err
		}
		for _, p := range candidates {
			pw := pathWatch{watcher: f.watcher}
			if err := pw.watch(ctx, p, f.h.Poke); err != nil {
				x.sources.closeAll()
				return err
			}
			x.sources.list = append(x.sources.list, pw)
		}
	}
	return nil
}

// LocalSource resolves a puppet:/// source as File does with roots: the first of
// its local paths that exists (a module's M/files/P under the module path, or an
// agent's copy of another mount's). ok is false for other sources and when none
// exists.
func LocalSource(source string, roots *ModuleRoots) (path string, ok bool) {
	if !strings.HasPrefix(source, "puppet:///") {
		return "", false
	}
	f := &File{Modules: roots}
	paths, err := f.sourceCandidates(source)
	if err != nil {
		return "", false
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}
