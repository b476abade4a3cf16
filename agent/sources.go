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

// FileMetadatas asks for the metadata of a served file, or of a whole tree with
// recurse (file_metadatas: the root is relative_path "."). A source the server
// does not have gives no entries and no error.
func (c *Client) FileMetadatas(ctx context.Context, path, env string, recurse bool) ([]Metadata, error) {
	q := []param{{"links", "manage"}, {"checksum_type", "sha256"}, {"source_permissions", "ignore"}, {"environment", env}}
	r := request{method: http.MethodGet, accept: acceptJSON}
	if recurse {
		r.path = "/puppet/v3/file_metadatas" + pathEscape(path)
		r.query = append([]param{{"recurse", "true"}, {"max_files", "-1"}}, q...)
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
// puppet:///modules/ into dir, laid out as a module path (dir/M/files/P), so that
// the Files find them there as puppet apply finds them in its module path. A
// file whose checksum the server gives is fetched only when the copy differs;
// what the server does not have is left out, so that the File reports the
// missing source as Puppet does. Files that recurse get their whole tree.
func SyncSources(ctx context.Context, c *Client, cat *catalog.Catalog, env, dir string) (fetched int, err error) {
	seen := map[string]bool{}
	for i := range cat.Resources {
		r := &cat.Resources[i]
		if r.Type != "File" || r.Exported {
			continue
		}
		recurse := isRecurse(r.Parameters["recurse"])
		for _, src := range sourcesOf(r.Parameters["source"]) {
			path, ok := modulesPath(src)
			key := fmt.Sprint(path, recurse)
			if !ok || seen[key] {
				continue
			}
			seen[key] = true
			n, err := syncOne(ctx, c, path, env, dir, recurse)
			fetched += n
			if err != nil {
				return fetched, fmt.Errorf("%s: source %s: %w", r.Ref(), src, err)
			}
		}
	}
	return fetched, nil
}

func syncOne(ctx context.Context, c *Client, path, env, dir string, recurse bool) (int, error) {
	ms, err := c.FileMetadatas(ctx, path, env, recurse)
	if err != nil {
		return 0, err
	}
	// path is /modules/M/P; the copy lives at dir/M/files/P.
	rest := strings.TrimPrefix(path, "/modules/")
	module, file, _ := strings.Cut(rest, "/")
	base := filepath.Join(dir, module, "files", filepath.Clean("/"+file))
	n := 0
	for _, m := range ms {
		rel := filepath.Clean("/" + m.RelativePath)
		local := filepath.Join(base, rel)
		if !strings.HasPrefix(local, filepath.Join(dir, module, "files")) {
			return n, fmt.Errorf("the server named %q, outside the source", m.RelativePath)
		}
		switch m.Type {
		case "directory":
			if err := os.MkdirAll(local, 0o755); err != nil {
				return n, err
			}
		case "file":
			if sameChecksum(local, m.Checksum.Value) {
				continue
			}
			served := path
			if rel != "/" {
				served = path + rel
			}
			data, err := c.FileContent(ctx, served, env)
			if err != nil {
				return n, err
			}
			if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
				return n, err
			}
			if err := atomicfile.Write(local, string(data), atomicfile.Options{Mode: 0o644, UID: -1, GID: -1}); err != nil {
				return n, err
			}
			n++
		case "link":
			os.Remove(local)
			if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
				return n, err
			}
			if err := os.Symlink(m.Destination, local); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// sameChecksum says whether file's sha256 is the server's "{sha256}hex".
func sameChecksum(file, want string) bool {
	hexSum, ok := strings.CutPrefix(want, "{sha256}")
	if !ok {
		return false
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]) == hexSum
}

// modulesPath is the served path of a puppet:///modules/ source.
func modulesPath(src string) (string, bool) {
	u, err := url.Parse(src)
	if err != nil || u.Scheme != "puppet" || u.Host != "" || !strings.HasPrefix(u.Path, "/modules/") {
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
