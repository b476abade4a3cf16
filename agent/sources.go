package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
)

// Metadata is what Puppet Server says of a served file (file_metadata).
type Metadata struct {
	Path         string `json:"path"`
	RelativePath string `json:"relative_path"`
	Type         string `json:"type"` // file, directory, link
	Mode         int    `json:"mode"`
	Destination  string `json:"destination"`
	Checksum     struct {
		Type  string `json:"type"`
		Value string `json:"value"` // {sha256}hex
	} `json:"checksum"`
}

// metadataOptions are a metadata request's links (manage, follow),
// source_permissions (ignore, use) and ignore patterns.
type metadataOptions struct {
	links, permissions string
	ignore             []string
}

// FileMetadatas asks for the metadata of a served file, or of a whole tree with
// recurse (file_metadatas: the root is relative_path "."). A source the server
// does not have gives no entries and no error.
func (c *Client) FileMetadatas(ctx context.Context, path, env string, recurse bool, o metadataOptions) ([]Metadata, error) {
	q := []param{{"links", o.links}, {"checksum_type", "sha256"}, {"source_permissions", o.permissions}, {"environment", env}}
	r := request{method: http.MethodGet, accept: acceptJSON}
	if recurse {
		r.path = "/puppet/v3/file_metadatas" + pathEscape(path)
		head := []param{{"recurse", "true"}, {"max_files", "-1"}}
		for _, i := range o.ignore {
			head = append(head, param{"ignore", i})
		}
		r.query = append(head, q...)
	} else {
		r.path = "/puppet/v3/file_metadata" + pathEscape(path)
		r.query = q
	}
	data, err := c.do(ctx, r)
	if NotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !recurse {
		var m Metadata
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("file_metadata%s: %w", path, err)
		}
		m.RelativePath = "."
		return []Metadata{m}, nil
	}
	var ms []Metadata
	if err := json.Unmarshal(data, &ms); err != nil {
		return nil, fmt.Errorf("file_metadatas%s: %w", path, err)
	}
	return ms, nil
}

// SyncSources fetches the files that the catalog's File resources source from
// the server (puppet:///) into dir: those of puppet:///modules/ laid out as a
// module path (dir/M/files/P), so that the Files find them there as puppet apply
// finds them in its module path, and those of the server's other mounts
// (fileserver.conf) as MOUNT/P under MountCopies(dir). A
// file whose checksum the server gives is fetched only when the copy differs;
// what the server does not have is left out, so that the File reports the
// missing source as Puppet does. Files that recurse get their whole tree. It
// returns how many files and folders of the copy it changed, and the sources it
// could not fetch, with why: their copies are removed.
func SyncSources(ctx context.Context, c *Client, cat *catalog.Catalog, env, dir string) (changed int, failed map[string]error) {
	seen := map[string]bool{}
	for i := range cat.Resources {
		r := &cat.Resources[i]
		if r.Type != "File" || r.Exported {
			continue
		}
		recurse := isRecurse(r.Parameters["recurse"])
		for _, src := range sourcesOf(r.Parameters["source"]) {
			path, ok := servedPath(src)
			key := fmt.Sprint(path, recurse)
			if !ok || seen[key] {
				continue
			}
			seen[key] = true
			n, err := syncOne(ctx, c, path, env, dir, recurse)
			changed += n
			if err != nil {
				// No stale copy may stand in for what the server could not
				// give: the File fails, as Puppet's does without metadata.
				os.RemoveAll(sourceCopy(dir, path))
				if failed == nil {
					failed = map[string]error{}
				}
				failed[src] = err
			}
		}
	}
	return changed, failed
}

// sourceCopy is where the copy of a served /modules/M/P lives, dir/M/files/P,
// and that of another mount's /MOUNT/P, MOUNT/P under MountCopies(dir).
func sourceCopy(dir, path string) string {
	rest, ok := strings.CutPrefix(path, "/modules/")
	if !ok {
		return filepath.Join(MountCopies(dir), filepath.Clean(path))
	}
	module, file, _ := strings.Cut(rest, "/")
	return filepath.Join(dir, module, "files", filepath.Clean("/"+file))
}

// MountCopies is where SyncSources puts, under its dir, the copies of mounts
// other than modules: a name no module can have.
func MountCopies(dir string) string { return filepath.Join(dir, ".mounts") }

func syncOne(ctx context.Context, c *Client, path, env, dir string, recurse bool) (int, error) {
	ms, err := c.FileMetadatas(ctx, path, env, recurse, metadataOptions{links: "manage", permissions: "ignore"})
	if err != nil {
		return 0, err
	}
	// Only a tree is purged: the copy of a directory that does not recurse
	// holds the copies of the sources below it.
	changes, err := c.mirror(ctx, path, env, ms, sourceCopy(dir, path), mirrorOptions{purge: recurse})
	return len(changes), err
}

// Change is one change mirror made to a local copy, worded as Puppet logs the
// change of the File resource that pluginsync uses.
type Change struct {
	Path    string
	Message string // "ensure: defined content as '{sha256}...'"
}

type mirrorOptions struct {
	purge bool // remove what the server does not list under dest
	modes bool // give files the server's mode (source_permissions use)
}

// mirror makes dest a copy of the served tree ms (from FileMetadatas of served):
// directories made, files fetched when their checksum differs, links made, all
// of dest removed when ms is empty (the server has no such source), and, with
// purge, what the server does not list under dest removed.
func (c *Client) mirror(ctx context.Context, served, env string, ms []Metadata, dest string, o mirrorOptions) ([]Change, error) {
	var changes []Change
	listed := map[string]bool{}
	for _, m := range ms {
		rel := filepath.Clean("/" + m.RelativePath)
		local := filepath.Join(dest, rel)
		if local != dest && !strings.HasPrefix(local, dest+"/") {
			return changes, fmt.Errorf("the server named %q, outside %s", m.RelativePath, served)
		}
		listed[local] = true
		switch m.Type {
		case "directory":
			if st, err := os.Lstat(local); err == nil && st.IsDir() {
				continue
			}
			os.RemoveAll(local)
			if err := os.MkdirAll(local, 0o755); err != nil {
				return changes, err
			}
			if local != dest { // Puppet makes the destination itself unannounced
				changes = append(changes, Change{local, "ensure: created"})
			}
		case "file":
			old, had := checksumOf(local)
			if had && "{sha256}"+old == m.Checksum.Value {
				continue
			}
			from := served
			if rel != "/" {
				from = served + rel
			}
			data, err := c.FileContent(ctx, from, env)
			if err != nil {
				return changes, err
			}
			if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
				return changes, err
			}
			mode := uint32(0o644)
			if o.modes && m.Mode != 0 {
				mode = uint32(m.Mode) & 0o7777
			}
			if st, err := os.Lstat(local); err == nil && st.IsDir() {
				os.RemoveAll(local)
			}
			if err := atomicfile.Write(local, string(data), atomicfile.Options{Mode: mode, UID: -1, GID: -1}); err != nil {
				return changes, err
			}
			sum := sha256.Sum256(data)
			if had {
				changes = append(changes, Change{local, fmt.Sprintf("content: content changed '{sha256}%s' to '{sha256}%x'", old, sum)})
			} else {
				changes = append(changes, Change{local, fmt.Sprintf("ensure: defined content as '{sha256}%x'", sum)})
			}
		case "link":
			if t, err := os.Readlink(local); err == nil && t == m.Destination {
				continue
			}
			os.RemoveAll(local)
			if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
				return changes, err
			}
			if err := os.Symlink(m.Destination, local); err != nil {
				return changes, err
			}
			changes = append(changes, Change{local, "ensure: created"})
		}
	}
	if len(ms) == 0 {
		if _, err := os.Lstat(dest); err == nil {
			os.RemoveAll(dest)
			changes = append(changes, Change{dest, "ensure: removed"})
		}
		return changes, nil
	}
	if !o.purge {
		return changes, nil
	}
	var stale []string
	filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if err != nil || listed[p] {
			return nil
		}
		stale = append(stale, p)
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			return changes, err
		}
		changes = append(changes, Change{p, "ensure: removed"})
	}
	return changes, nil
}

// pluginsIgnore is pluginsignore's default: what pluginsync never copies.
var pluginsIgnore = []string{".svn", "CVS", ".git", ".hg"}

// Pluginsync copies a mount of the server (pluginfacts, plugins: the facts.d
// and lib folders of every module of env) into dest, as puppet agent's pluginsync
// does: recursively, following links, purging what the server no longer has;
// pluginfacts keep the server's file modes (source_permissions use).
func Pluginsync(ctx context.Context, c *Client, mount, env, dest string) ([]Change, error) {
	perms := "ignore"
	if mount == "pluginfacts" {
		perms = "use"
	}
	ms, err := c.FileMetadatas(ctx, "/"+mount, env, true, metadataOptions{links: "follow", permissions: perms, ignore: pluginsIgnore})
	if err != nil {
		return nil, err
	}
	return c.mirror(ctx, "/"+mount, env, ms, dest, mirrorOptions{purge: true, modes: perms == "use"})
}

// checksumOf is the sha256 of a regular file, in hex; false when it is none.
func checksumOf(file string) (string, bool) {
	st, err := os.Lstat(file)
	if err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", false
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), true
}

// servedPath is the served path of a puppet:/// source: /modules/M/P or
// /MOUNT/P. Sources of other hosts (puppet://HOST/) are Puppet's, and a path
// Puppet's file server refuses (an invalid mount name, a ..) is never asked for:
// its File fails on its own.
func servedPath(src string) (string, bool) {
	u, err := url.Parse(src)
	if err != nil || u.Scheme != "puppet" || u.Host != "" || resources.ServedPathError(u.Path) != nil {
		return "", false
	}
	mount, rest := resources.SplitServed(u.Path)
	if mount == "modules" && rest == "" {
		return "", false
	}
	return u.Path, true
}

func sourcesOf(v any) []string {
	switch s := v.(type) {
	case string:
		return []string{s}
	case []any:
		var out []string
		for _, e := range s {
			if str, ok := e.(string); ok {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}

func isRecurse(v any) bool {
	switch r := v.(type) {
	case bool:
		return r
	case string:
		return r == "true" || r == "remote"
	}
	return false
}
