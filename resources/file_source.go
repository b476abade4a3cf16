package resources

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// A File's source: Puppet URLs resolved here, without a Puppet server.
// puppet:///modules/M/P is M/files/P under the first module path entry that has
// it; file:///P and /P are local paths. The first source that exists gives the
// content, read at every check, so that a changed source is applied again; the
// local sources are watched too.

// checkSource validates the source URLs.
func (f *File) checkSource() error {
	for _, s := range f.Source {
		if _, err := f.sourceCandidates(s); err != nil {
			return err
		}
	}
	if len(f.Source) > 0 && f.Content != nil && !f.fromSource() {
		return fmt.Errorf("You cannot specify more than one of content, source, target")
	}
	return nil
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
		rest, ok := strings.CutPrefix(u.Path, "/modules/")
		module, file, found := strings.Cut(rest, "/")
		if !ok || !found || module == "" || file == "" {
			return nil, fmt.Errorf("source %q: only puppet:///modules/MODULE/FILE is supported", s)
		}
		var out []string
		for _, dir := range f.Modules.dirs() {
			out = append(out, filepath.Join(dir, module, "files", filepath.Clean("/"+file)))
		}
		return out, nil
	case u.Scheme == "puppet":
		return nil, fmt.Errorf("source %q: fetching from a Puppet server is not supported; use puppet:///modules/... with --modulepath", s)
	}
	return nil, fmt.Errorf("source %q: only puppet:///modules/..., file:// and absolute paths are supported", s)
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

// ModuleRoots says where puppet:///modules/ sources are found: the module path,
// and the environment named in errors. One is shared by the Files of a catalog.
type ModuleRoots struct {
	Dirs        []string
	Environment string
	// Unavailable are sources whose server could not be asked (an agent's run
	// with the server gone), with why: a File with one fails as Puppet's does
	// when it cannot have the source's metadata.
	Unavailable map[string]error
}

func (m *ModuleRoots) dirs() []string {
	if m == nil {
		return nil
	}
	return m.Dirs
}

// SetModules sets where puppet:///modules/ sources are found.
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

// ModuleFile resolves a puppet:///modules/M/P source as File does: the first
// M/files/P that exists under the module path. ok is false for other sources and
// when none exists.
func ModuleFile(source string, modulePath []string) (path string, ok bool) {
	if !strings.HasPrefix(source, "puppet:///modules/") {
		return "", false
	}
	f := &File{Modules: &ModuleRoots{Dirs: modulePath}}
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
