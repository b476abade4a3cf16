package agent

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
)

// fileServer serves a tree of files as Puppet Server's file_metadata(s) and
// file_content do, as the mount "modules/demo" (that is, demo's files/) and as a
// mount of fileserver.conf, "site".
type fileServer struct {
	mu    sync.Mutex
	files map[string]string // relative path -> content; a trailing / is a directory
	down  bool
}

func (s *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		http.Error(w, "down", 503)
		return
	}
	meta := func(rel, content string, dir bool) map[string]any {
		m := map[string]any{"relative_path": rel, "type": "file", "mode": 0o644,
			"checksum": map[string]string{"type": "sha256", "value": fmt.Sprintf("{sha256}%x", sha256.Sum256([]byte(content)))}}
		if dir {
			m["type"] = "directory"
		}
		return m
	}
	w.Header().Set("Content-Type", "application/json")
	p := r.URL.Path
	for _, mount := range []string{"modules/demo/", "site/"} {
		for _, endpoint := range []string{"file_metadatas/", "file_metadata/", "file_content/"} {
			if rest, ok := strings.CutPrefix(p, "/puppet/v3/"+endpoint+mount); ok {
				p = "/puppet/v3/" + endpoint + "modules/demo/" + rest
			}
		}
	}
	switch {
	case strings.HasPrefix(p, "/puppet/v3/file_metadatas/modules/demo/"):
		root := strings.TrimPrefix(p, "/puppet/v3/file_metadatas/modules/demo/")
		if _, ok := s.files[root+"/"]; !ok {
			http.Error(w, "not found", 404)
			return
		}
		var out []map[string]any
		for f, c := range s.files {
			if rel, ok := strings.CutPrefix(f, root+"/"); ok {
				if rel == "" {
					rel = "."
				}
				out = append(out, meta(strings.TrimSuffix(rel, "/"), c, strings.HasSuffix(f, "/")))
			}
		}
		json.NewEncoder(w).Encode(out)
	case strings.HasPrefix(p, "/puppet/v3/file_metadata/modules/demo/"):
		f := strings.TrimPrefix(p, "/puppet/v3/file_metadata/modules/demo/")
		c, ok := s.files[f]
		dir := false
		if !ok {
			_, dir = s.files[f+"/"]
			ok = dir
		}
		if !ok {
			http.Error(w, "not found", 404)
			return
		}
		json.NewEncoder(w).Encode(meta(".", c, dir))
	case strings.HasPrefix(p, "/puppet/v3/file_content/modules/demo/"):
		f := strings.TrimPrefix(p, "/puppet/v3/file_content/modules/demo/")
		w.Header().Set("Content-Type", "application/octet-stream")
		fmt.Fprint(w, s.files[f])
	default:
		http.Error(w, "no route "+p, 404)
	}
}

func listTree(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out = append(out, rel+"/")
			return nil
		}
		data, _ := os.ReadFile(p)
		out = append(out, rel+"="+string(data))
		return nil
	})
	sort.Strings(out)
	return out
}

func TestSyncSources(t *testing.T) {
	fs := &fileServer{files: map[string]string{"hello.txt": "hi\n", "conf.d/": "", "conf.d/a.conf": "a\n", "conf.d/b.conf": "b\n"}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	c := NewClient(srv.URL, nil, DefaultHTTPOptions)
	cat := &catalog.Catalog{Resources: []catalog.Resource{
		{Type: "File", Title: "/etc/hello", Parameters: map[string]any{"source": "puppet:///modules/demo/hello.txt"}},
		{Type: "File", Title: "/etc/conf.d", Parameters: map[string]any{"source": []any{"puppet:///modules/demo/conf.d"}, "recurse": true}},
		{Type: "File", Title: "/etc/local", Parameters: map[string]any{"source": "/srv/local"}},
		{Type: "File", Title: "/etc/motd", Parameters: map[string]any{"source": "puppet:///site/hello.txt"}},
		{Type: "File", Title: "/etc/other", Parameters: map[string]any{"source": "puppet://other.example/site/hello.txt"}},
		{Type: "File", Title: "/etc/exported", Exported: true, Parameters: map[string]any{"source": "puppet:///modules/demo/secret"}},
	}}
	dir := t.TempDir()
	steps := []struct {
		name    string
		change  func()
		changed int
		err     bool
		want    []string
	}{
		{"first", func() {}, 4, false,
			[]string{".mounts/", ".mounts/site/", ".mounts/site/hello.txt=hi\n", "demo/", "demo/files/", "demo/files/conf.d/", "demo/files/conf.d/a.conf=a\n", "demo/files/conf.d/b.conf=b\n", "demo/files/hello.txt=hi\n"}},
		{"unchanged: nothing fetched", func() {}, 0, false,
			[]string{".mounts/", ".mounts/site/", ".mounts/site/hello.txt=hi\n", "demo/", "demo/files/", "demo/files/conf.d/", "demo/files/conf.d/a.conf=a\n", "demo/files/conf.d/b.conf=b\n", "demo/files/hello.txt=hi\n"}},
		{"changed and removed on the server", func() {
			fs.files["hello.txt"] = "hello\n"
			delete(fs.files, "conf.d/b.conf")
		}, 3, false,
			[]string{".mounts/", ".mounts/site/", ".mounts/site/hello.txt=hello\n", "demo/", "demo/files/", "demo/files/conf.d/", "demo/files/conf.d/a.conf=a\n", "demo/files/hello.txt=hello\n"}},
		{"gone from the server", func() { delete(fs.files, "hello.txt") }, 2, false,
			[]string{".mounts/", ".mounts/site/", "demo/", "demo/files/", "demo/files/conf.d/", "demo/files/conf.d/a.conf=a\n"}},
		{"server failing: no stale copy", func() { fs.down = true }, 0, true,
			[]string{".mounts/", ".mounts/site/", "demo/", "demo/files/"}},
	}
	for _, st := range steps {
		fs.mu.Lock()
		st.change()
		fs.mu.Unlock()
		n, failed := SyncSources(context.Background(), c, cat, "production", dir)
		if (len(failed) > 0) != st.err || n != st.changed {
			t.Errorf("%s: %d changes, failed %v; want %d, failures %v", st.name, n, failed, st.changed, st.err)
		}
		if st.err && (failed["puppet:///modules/demo/hello.txt"] == nil || failed["puppet:///modules/demo/conf.d"] == nil ||
			failed["puppet:///site/hello.txt"] == nil) {
			t.Errorf("%s: failed %v, want every source of the server", st.name, failed)
		}
		if failed["puppet://other.example/site/hello.txt"] != nil {
			t.Errorf("%s: a source of another host was asked of the server", st.name)
		}
		if got := listTree(t, dir); strings.Join(got, "|") != strings.Join(st.want, "|") {
			t.Errorf("%s: copy\n got %q\nwant %q", st.name, got, st.want)
		}
	}
}

// A directory sourced without recurse, and a file sourced below it: in either
// order, syncing the directory keeps the file's copy (only a recursing source's
// copy is purged), and a source whose path Puppet's file server refuses is never
// asked for.
func TestSyncSourcesNested(t *testing.T) {
	fs := &fileServer{files: map[string]string{"conf.d/": "", "conf.d/a.conf": "a\n"}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	c := NewClient(srv.URL, nil, DefaultHTTPOptions)
	dirRes := catalog.Resource{Type: "File", Title: "/etc/conf.d", Parameters: map[string]any{"source": "puppet:///site/conf.d"}}
	fileRes := catalog.Resource{Type: "File", Title: "/etc/conf.d/a.conf", Parameters: map[string]any{"source": "puppet:///site/conf.d/a.conf"}}
	bad := catalog.Resource{Type: "File", Title: "/etc/bad", Parameters: map[string]any{"source": "puppet:///site/.."}}
	for _, order := range [][]catalog.Resource{{dirRes, fileRes, bad}, {fileRes, dirRes, bad}} {
		dir := t.TempDir()
		for range 2 {
			_, failed := SyncSources(context.Background(), c, &catalog.Catalog{Resources: order}, "production", dir)
			if len(failed) > 0 {
				t.Fatalf("%s first: failed %v", order[0].Title, failed)
			}
			want := []string{".mounts/", ".mounts/site/", ".mounts/site/conf.d/", ".mounts/site/conf.d/a.conf=a\n"}
			if got := listTree(t, dir); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s first: copy\n got %q\nwant %q", order[0].Title, got, want)
			}
		}
	}
}
