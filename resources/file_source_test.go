package resources

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSourceCandidates(t *testing.T) {
	f := &File{Modules: &ModuleRoots{Dirs: []string{"/a", "/b"}}}
	for _, tc := range []struct {
		in, err string
		want    []string
	}{
		{in: "/etc/x", want: []string{"/etc/x"}},
		{in: "file:///etc/x", want: []string{"/etc/x"}},
		{in: "puppet:///modules/m/d/f", want: []string{"/a/m/files/d/f", "/b/m/files/d/f"}},
		{in: "puppet:///modules/m/../../../etc/shadow", err: "Cannot find file: Invalid relative path 'm/../../../etc/shadow'"},
		{in: "puppet:///modules/m/./d//f", want: []string{"/a/m/files/d/f", "/b/m/files/d/f"}},
		{in: "puppet:///my%20mount/f", err: "Cannot find file: Invalid mount 'my mount'"},
		{in: "puppet:///modules/m", err: "only puppet:///modules/MODULE/FILE"},
		{in: "puppet:///site/d/f", err: "only puppet:///modules/MODULE/FILE is read without a server"},
		{in: "puppet://server/modules/m/f", err: "another host is Puppet's"},
		{in: "https://example.invalid/f", err: "another host is Puppet's"},
		{in: "relative", err: "only puppet:///..., file:// and absolute paths"},
	} {
		got, err := f.sourceCandidates(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

// With an agent's copies of the server's mounts, puppet:///MOUNT/P is read from
// them; without, it is Puppet's to fetch, as are other hosts' and http(s) sources.
func TestSourceMounts(t *testing.T) {
	for _, c := range []struct {
		mounts      string
		in          string
		want        []string
		unfetchable bool
	}{
		{"/copies", "puppet:///site/d/f", []string{"/copies/site/d/f"}, false},
		{"/copies", "puppet:///site/../../etc/shadow", nil, false}, // refused, as Puppet's file server does
		{"/copies", "puppet:///modules/m/f", []string{"/a/m/files/f"}, false},
		{"", "puppet:///site/d/f", nil, true},
		{"", "puppet:///modules/m/f", []string{"/a/m/files/f"}, false},
		{"/copies", "puppet://server/site/f", nil, true},
		{"/copies", "https://example.invalid/f", nil, true},
		{"/copies", "http://example.invalid/f", nil, true},
		{"", "/etc/x", []string{"/etc/x"}, false},
		{"", "relative", nil, false}, // invalid: Validate says so
	} {
		m := &ModuleRoots{Dirs: []string{"/a"}, Mounts: c.mounts}
		f := &File{Source: []string{c.in}, Modules: m}
		got, _ := f.sourceCandidates(c.in)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("mounts %q, %s: candidates %v, want %v", c.mounts, c.in, got, c.want)
		}
		if u := f.UnfetchableSources(m); (len(u) == 1) != c.unfetchable {
			t.Errorf("mounts %q, %s: unfetchable %v, want %v", c.mounts, c.in, u, c.unfetchable)
		}
	}
}

// TestSourceChangeApplied: a changed source is applied at the next check.
func TestSourceChangeApplied(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &File{Path: dst, Ensure: "file", Source: []string{src}, Replace: true}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	h := newFileHandle()
	_ = f.Init(h)
	for i, content := range []string{"one\n", "two\n"} {
		if i > 0 {
			if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.CheckApply(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(dst); string(got) != content {
			t.Errorf("step %d: %q, want %q", i, got, content)
		}
		if ok, _ := f.CheckApply(context.Background(), true); !ok {
			t.Errorf("step %d: not in sync after apply", i)
		}
	}
	if err := f.Validate(); err != nil {
		t.Errorf("Validate after a check: %v", err)
	}
}

// TestSourceUnavailable: a source the agent could not ask its server about fails
// the File with Puppet's words, even where a copy of it exists; an available
// source later in the list is not tried, as Puppet stops at the error.
func TestSourceUnavailable(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "m", "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "m", "files", "x"), []byte("stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mods := &ModuleRoots{Dirs: []string{dir}}
	f := &File{Path: filepath.Join(dir, "target"), Ensure: "file", Source: []string{"puppet:///modules/m/x"}, Modules: mods}
	if _, _, err := f.findSource(); err != nil {
		t.Fatalf("available: %v", err)
	}
	mods.Unavailable = map[string]error{"puppet:///modules/m/x": errors.New("No more routes to fileserver")}
	_, _, err := f.findSource()
	if want := "Could not retrieve file metadata for puppet:///modules/m/x: No more routes to fileserver"; err == nil || err.Error() != want {
		t.Errorf("unavailable: %v, want %q", err, want)
	}
}

// A source whose path Puppet's file server refuses fails its File when checked,
// as in Puppet, rather than the catalog when validated.
func TestSourceServedPathRefused(t *testing.T) {
	f := &File{Path: filepath.Join(t.TempDir(), "f"), Source: []string{"puppet:///modules/m/../x"},
		Modules: &ModuleRoots{Dirs: []string{t.TempDir()}, Mounts: t.TempDir()}}
	if err := f.Validate(); err != nil {
		t.Fatalf("Validate: %v, want the File accepted", err)
	}
	f.Init(newFileHandle())
	defer f.Close()
	_, err := f.CheckApply(context.Background(), true)
	if want := `source "puppet:///modules/m/../x": Cannot find file: Invalid relative path 'm/../x'`; err == nil || err.Error() != want {
		t.Errorf("CheckApply: %v, want %s", err, want)
	}
}

// In replaces $environment in the folders and names the environment, leaving the
// roots it was called on as they were.
func TestModuleRootsIn(t *testing.T) {
	m := &ModuleRoots{Dirs: []string{"/e/$environment/modules", "/shared"}, Mounts: "/copies/$environment/.mounts"}
	got := m.In("prod")
	want := &ModuleRoots{Dirs: []string{"/e/prod/modules", "/shared"}, Mounts: "/copies/prod/.mounts", Environment: "prod"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("In: %+v, want %+v", got, want)
	}
	if m.Dirs[0] != "/e/$environment/modules" || m.Environment != "" {
		t.Errorf("In changed its receiver: %+v", m)
	}
}
