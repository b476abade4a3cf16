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
	if len(f.Source) > 0 && f.Content != nil && !f.fromSource {
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
		for _, dir := range f.ModulePath {
			out = append(out, filepath.Join(dir, module, "files", filepath.Clean("/"+file)))
		}
		return out, nil
	case u.Scheme == "puppet":
		return nil, fmt.Errorf("source %q: fetching from a Puppet server is not supported; use puppet:///modules/... with --modulepath", s)
	}
	return nil, fmt.Errorf("source %q: only puppet:///modules/..., file:// and absolute paths are supported", s)
}

// sourceContent reads the first source that exists.
func (f *File) sourceContent() (string, error) {
	for _, s := range f.Source {
		paths, err := f.sourceCandidates(s)
		if err != nil {
			return "", err
		}
		for _, p := range paths {
			info, err := os.Stat(p)
			if err != nil {
				continue
			}
			if info.IsDir() {
				return "", fmt.Errorf("source %s is a directory; directory sources (recurse) are not supported yet", s)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return "", err
			}
			return string(data), nil
		}
	}
	return "", fmt.Errorf("Could not retrieve information from environment %s source(s) %s", f.environment(), strings.Join(f.Source, ", "))
}

func (f *File) environment() string {
	if f.Environment == "" {
		return "production"
	}
	return f.Environment
}

// loadSource makes the source's current content the content wanted.
func (f *File) loadSource() error {
	content, err := f.sourceContent()
	if err != nil {
		return err
	}
	if f.Content == nil || *f.Content != content {
		f.Content, f.want, f.fromSource = &content, "", true
	}
	return nil
}

// SetModulePath sets where puppet:///modules/ sources are found, and the
// environment named in errors.
func (f *File) SetModulePath(dirs []string, environment string) {
	f.ModulePath, f.Environment = dirs, environment
}

// watchSources watches the local paths the sources may name.
func (f *File) watchSources(ctx context.Context) error {
	var paths []string
	for _, s := range f.Source {
		candidates, err := f.sourceCandidates(s)
		if err != nil {
			return err
		}
		paths = append(paths, candidates...)
	}
	return f.sources.watchAll(ctx, "", paths, f.h.Poke)
}
