package resources

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// ids matches the owner and group that tree prints.
var ids = regexp.MustCompile(` \d+:\d+`)

// treeNoIDs is tree without owners and groups.
func treeNoIDs(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(ids.ReplaceAllString(tree(t, dir), ""), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// layout makes paths under root: a name ending in "/" is a directory, anything
// else a file holding its value; modes are given after a "@" in the name.
func layout(t *testing.T, root string, files map[string]string) {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		name, mode := n, ""
		if i := strings.IndexByte(n, '@'); i >= 0 {
			name, mode = n[:i], n[i+1:]
		}
		p := filepath.Join(root, name)
		var err error
		if strings.HasSuffix(name, "/") {
			err = os.MkdirAll(p, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, []byte(files[n]), 0o644)
		}
		if err == nil && mode != "" {
			m, _, _ := desiredMode(mode, 0, false)
			err = os.Chmod(p, os.FileMode(m))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestFileRecurse applies a recursing File to a local tree and a source tree, as
// Puppet 7 does (each case was checked with puppet apply): the log lines of the
// generated children, the tree after, and that a second check changes nothing. A
// noop check first must print the noop form of the same lines and change nothing.
func TestFileRecurse(t *testing.T) {
	src := map[string]string{
		"a.conf": "alpha\n", "skip.bak": "ignored\n", "sub/b.conf": "beta\n",
		"sub/deep/c.conf": "gamma\n", "explicit.conf": "module\n",
	}
	cases := []struct {
		name     string
		local    map[string]string
		file     File // Path, LogContainer and a source under the test's dirs are set
		source   bool
		managed  []string // relative paths managed by other resources
		want     []string // log lines; DST stands for the directory
		wantTree string
		noop     []string // log lines of the noop check, when not the want lines
		wantErr  string
	}{
		{name: "source copied with mode, purge with force, ignore, explicit file left alone",
			local: map[string]string{
				"stray.txt": "s", "olddir/x": "x", "keep.bak": "k", ".hidden": "h",
				"sub/b.conf@0644": "old\n", "explicit.conf@0600": "mine\n",
			},
			file:    File{Ensure: "directory", Recurse: "true", Purge: true, Force: true, Mode: "0640", Ignore: []string{"*.bak"}},
			source:  true,
			managed: []string{"explicit.conf"},
			want: []string{
				"Notice: /Stage[main]/Main/File[DST/.hidden]/ensure: removed",
				"Notice: /Stage[main]/Main/File[DST/a.conf]/ensure: defined content as '" + sha("alpha\n") + "'",
				"Notice: /Stage[main]/Main/File[DST/olddir]/ensure: removed",
				"Notice: /Stage[main]/Main/File[DST/stray.txt]/ensure: removed",
				"Notice: /Stage[main]/Main/File[DST/sub]/mode: mode changed '0755' to '0750'",
				"Notice: /Stage[main]/Main/File[DST/sub/b.conf]/content: content changed '" + sha("old\n") + "' to '" + sha("beta\n") + "'",
				"Notice: /Stage[main]/Main/File[DST/sub/b.conf]/mode: mode changed '0644' to '0640'",
				"Notice: /Stage[main]/Main/File[DST/sub/deep]/ensure: created",
				"Notice: /Stage[main]/Main/File[DST/sub/deep/c.conf]/ensure: defined content as '" + sha("gamma\n") + "'",
			},
			noop: []string{
				"Notice: /Stage[main]/Main/File[DST/.hidden]/ensure: current_value 'file', should be 'absent' (noop)",
				"Notice: /Stage[main]/Main/File[DST/a.conf]/ensure: current_value 'absent', should be 'file' (noop)",
				"Notice: /Stage[main]/Main/File[DST/olddir]/ensure: current_value 'directory', should be 'absent' (noop)",
				"Notice: /Stage[main]/Main/File[DST/olddir/x]/ensure: current_value 'file', should be 'absent' (noop)",
				"Notice: /Stage[main]/Main/File[DST/stray.txt]/ensure: current_value 'file', should be 'absent' (noop)",
				"Notice: /Stage[main]/Main/File[DST/sub]/mode: current_value '0755', should be '0750' (noop)",
				"Notice: /Stage[main]/Main/File[DST/sub/b.conf]/content: current_value '" + sha("old\n") + "', should be '" + sha("beta\n") + "' (noop)",
				"Notice: /Stage[main]/Main/File[DST/sub/b.conf]/mode: current_value '0644', should be '0640' (noop)",
				"Notice: /Stage[main]/Main/File[DST/sub/deep]/ensure: current_value 'absent', should be 'directory' (noop)",
				"Notice: /Stage[main]/Main/File[DST/sub/deep/c.conf]/ensure: current_value 'absent', should be 'file' (noop)",
			},
			wantTree: ` directory 0750
/a.conf file 0640 alpha
/explicit.conf file 0600 mine
/keep.bak file 0644 k
/sub directory 0750
/sub/b.conf file 0640 beta
/sub/deep directory 0750
/sub/deep/c.conf file 0640 gamma`},
		{name: "purge without force keeps a directory, removes the files in it",
			local: map[string]string{"olddir/x": "x", "a.conf": "alpha\n"},
			file:  File{Recurse: "true", Purge: true},
			want: []string{
				"Notice: /Stage[main]/Main/File[DST/a.conf]/ensure: removed",
				"Notice: /Stage[main]/Main/File[DST/olddir]: Not removing directory; use 'force' to override",
				"Notice: /Stage[main]/Main/File[DST/olddir/x]/ensure: removed",
			},
			wantTree: " directory 0755\n/olddir directory 0755"},
		{name: "no source: mode on every child, search bits on directories",
			local: map[string]string{"one@0600": "1", "d/two@0755": "2", "d/@0700": ""},
			file:  File{Ensure: "directory", Recurse: "true", Mode: "0640"},
			want: []string{
				"Notice: /Stage[main]/Main/File[DST/d]/mode: mode changed '0700' to '0750'",
				"Notice: /Stage[main]/Main/File[DST/d/two]/mode: mode changed '0755' to '0640'",
				"Notice: /Stage[main]/Main/File[DST/one]/mode: mode changed '0600' to '0640'",
			},
			wantTree: " directory 0750\n/d directory 0750\n/d/two file 0640 2\n/one file 0640 1"},
		{name: "recurselimit 1 with purge",
			local:  map[string]string{"stray": "s", "sub/local": "l"},
			file:   File{Ensure: "directory", Recurse: "true", RecurseLimit: 1, Purge: true},
			source: true,
			want: []string{
				"Notice: /Stage[main]/Main/File[DST/a.conf]/ensure: defined content as '" + sha("alpha\n") + "'",
				"Notice: /Stage[main]/Main/File[DST/explicit.conf]/ensure: defined content as '" + sha("module\n") + "'",
				"Notice: /Stage[main]/Main/File[DST/skip.bak]/ensure: defined content as '" + sha("ignored\n") + "'",
				"Notice: /Stage[main]/Main/File[DST/stray]/ensure: removed",
			},
			wantTree: " directory 0755\n/a.conf file 0644 alpha\n/explicit.conf file 0644 module\n/skip.bak file 0644 ignored\n" +
				"/sub directory 0755\n/sub/local file 0644 l"},
		{name: "remote: only the source's children, purge has nothing to purge",
			local:  map[string]string{"stray": "s"},
			file:   File{Recurse: "remote", RecurseLimit: 2, Purge: true, Ignore: []string{"[!a-r]*"}},
			source: true,
			want: []string{
				"Notice: /Stage[main]/Main/File[DST/a.conf]/ensure: defined content as '" + sha("alpha\n") + "'",
				"Notice: /Stage[main]/Main/File[DST/explicit.conf]/ensure: defined content as '" + sha("module\n") + "'",
			},
			wantTree: " directory 0755\n/a.conf file 0644 alpha\n/explicit.conf file 0644 module\n/stray file 0644 s"},
		{name: "ignore does not match a leading period unless written",
			local: map[string]string{".ifoo": "", "ifile": "", "x": "", ".git/": "", ".git/config": ""},
			file:  File{Recurse: "true", Purge: true, Force: true, Ignore: []string{"i*", ".g*"}},
			want: []string{
				"Notice: /Stage[main]/Main/File[DST/.ifoo]/ensure: removed",
				"Notice: /Stage[main]/Main/File[DST/x]/ensure: removed",
			},
			wantTree: " directory 0755\n/.git directory 0755\n/.git/config file 0644 \n/ifile file 0644 "},
		{name: "a child that fails is logged against it and fails the parent",
			local:  map[string]string{"a.conf/": ""},
			file:   File{Recurse: "true", Ignore: []string{"[!a]*"}},
			source: true,
			want: []string{
				"Notice: /Stage[main]/Main/File[DST/a.conf]: Not removing directory; use 'force' to override",
				"Notice: /Stage[main]/Main/File[DST/a.conf]: Not removing directory; use 'force' to override",
				"Error: Could not set 'file' on ensure: Is a directory - Is a directory: DST/a.conf",
				"Error: /Stage[main]/Main/File[DST/a.conf]/ensure: change from 'directory' to 'file' failed: Could not set 'file' on ensure: Is a directory - Is a directory: DST/a.conf",
			},
			noop:    []string{"Notice: /Stage[main]/Main/File[DST/a.conf]/ensure: current_value 'directory', should be 'file' (noop)"},
			wantErr: "1 of the files in DST failed",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dst, srcDir := filepath.Join(root, "dst"), filepath.Join(root, "src")
			layout(t, dst, c.local)
			layout(t, srcDir, src)
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			f := c.file
			f.Path, f.LogContainer, f.Replace = dst, "/Stage[main]/Main", true
			for _, m := range c.managed {
				f.Managed = append(f.Managed, filepath.Join(dst, m))
			}
			if c.source {
				f.Source = []string{"file://" + srcDir}
			}
			if err := f.Validate(); err != nil {
				t.Fatal(err)
			}
			h := newFileHandle()
			f.Init(h)
			fix := func(lines []string) string {
				return strings.ReplaceAll(strings.Join(lines, "\n"), "DST", dst)
			}
			before := tree(t, dst)
			ok, err := f.CheckApply(t.Context(), false)
			if ok || err != nil {
				t.Errorf("noop: ok=%v err=%v", ok, err)
			}
			if got := strings.Join(h.logs, "\n"); c.noop != nil && got != fix(c.noop) {
				t.Errorf("noop lines:\n%s\nwant:\n%s", got, fix(c.noop))
			}
			if after := tree(t, dst); after != before {
				t.Errorf("noop changed the tree:\n%s\nwas:\n%s", after, before)
			}
			h.logs = nil
			ok, err = f.CheckApply(t.Context(), true)
			if c.wantErr != "" {
				if err == nil || err.Error() != strings.ReplaceAll(c.wantErr, "DST", dst) {
					t.Errorf("err %v, want %s", err, c.wantErr)
				}
			} else if ok || err != nil {
				t.Errorf("apply: ok=%v err=%v", ok, err)
			}
			if got := strings.Join(h.logs, "\n"); got != fix(c.want) {
				t.Errorf("lines:\n%s\nwant:\n%s", got, fix(c.want))
			}
			if got := treeNoIDs(t, dst); c.wantTree != "" && got != c.wantTree {
				t.Errorf("tree:\n%s\nwant:\n%s", got, c.wantTree)
			}
			if c.wantErr != "" {
				return
			}
			h.logs = nil
			ok, err = f.CheckApply(t.Context(), true)
			notices := 0
			for _, l := range h.logs {
				if !strings.Contains(l, "Not removing directory") {
					notices++
				}
			}
			if !ok || err != nil || notices > 0 {
				t.Errorf("second pass: ok=%v err=%v lines %q", ok, err, h.logs)
			}
		})
	}
}

// TestFileDirectorySource: a directory source without recurse makes a directory
// and copies nothing, as Puppet's copy_source_values sets ensure from the source.
func TestFileDirectorySource(t *testing.T) {
	root := t.TempDir()
	layout(t, filepath.Join(root, "src"), map[string]string{"a": "a"})
	f := &File{Path: filepath.Join(root, "dst"), Ensure: "file", Source: []string{filepath.Join(root, "src")}, Replace: true}
	h := newFileHandle()
	f.Init(h)
	if ok, err := f.CheckApply(t.Context(), true); ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if got := treeNoIDs(t, f.Path); got != " directory 0755" {
		t.Errorf("tree %q", got)
	}
	if len(h.changes) != 1 || h.changes[0].Message != "created" {
		t.Errorf("changes %v", h.changes)
	}
}

func TestIgnored(t *testing.T) {
	for _, c := range []struct {
		name, pattern string
		want          bool
	}{
		{"a.bak", "*.bak", true},
		{".bak", "*.bak", false},
		{".bak", ".b*", true},
		{".git", `\.git`, true},
		{"b", "[!a]", true},
		{"a", "[!a]", false},
		{"a", "?", true},
		{".", "?", false},
	} {
		if got := ignored(c.name, []string{c.pattern}); got != c.want {
			t.Errorf("ignored(%q, %q) = %v, want %v", c.name, c.pattern, got, c.want)
		}
	}
}

// TestFileRecurseTimeline: a purged, recursed copy converges; then a stray file, a
// stray directory with a file in it, an edited copy, a changed source and a new
// source file each poke within a second, and the next check repairs them.
func TestFileRecurseTimeline(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := startWatcher(t, ctx)
	defer w.Close()

	root := t.TempDir()
	dst, src := filepath.Join(root, "dst"), filepath.Join(root, "src")
	layout(t, src, map[string]string{"a": "alpha\n", "sub/b": "beta\n"})
	f := &File{Path: dst, Ensure: "directory", Source: []string{src}, Recurse: "true", Purge: true, Force: true,
		Replace: true, pathWatch: pathWatch{watcher: w}}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	h := newFileHandle()
	f.Init(h)
	if ok, err := f.CheckApply(ctx, true); ok || err != nil {
		t.Fatalf("first pass ok=%v err=%v", ok, err)
	}
	if err := f.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	converge := func(what string) {
		t.Helper()
		h.logs = nil
		for i := 0; ; i++ {
			ok, err := f.CheckApply(ctx, true)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if ok {
				break
			}
			if i == 3 {
				t.Fatalf("%s: no convergence: %q", what, h.logs)
			}
		}
	}
	converge("initial")
	check := func(what, wantLine string, do func() error) {
		t.Helper()
		expectPoke(t, h, what, do)
		converge(what)
		if !strings.Contains(strings.Join(h.logs, "\n"), wantLine) {
			t.Errorf("%s: lines %q, want one with %q", what, h.logs, wantLine)
		}
	}
	check("stray file", "File["+dst+"/stray]/ensure: removed", func() error {
		return os.WriteFile(filepath.Join(dst, "stray"), nil, 0o644)
	})
	check("stray directory in a subdirectory", "File["+dst+"/sub/junk]/ensure: removed", func() error {
		return os.Mkdir(filepath.Join(dst, "sub", "junk"), 0o755)
	})
	check("edited copy", "File["+dst+"/sub/b]/content: content changed", func() error {
		return os.WriteFile(filepath.Join(dst, "sub", "b"), []byte("edited\n"), 0o644)
	})
	check("changed source", "File["+dst+"/a]/content: content changed", func() error {
		return os.WriteFile(filepath.Join(src, "a"), []byte("new alpha\n"), 0o644)
	})
	check("new source file", "File["+dst+"/sub/c]/ensure: defined content", func() error {
		return os.WriteFile(filepath.Join(src, "sub", "c"), []byte("c\n"), 0o644)
	})
	check("new source directory", "File["+dst+"/new]/ensure: created", func() error {
		return os.Mkdir(filepath.Join(src, "new"), 0o755)
	})
	check("stray in the new directory", "File["+dst+"/new/x]/ensure: removed", func() error {
		return os.WriteFile(filepath.Join(dst, "new", "x"), nil, 0o644)
	})
	if got := treeNoIDs(t, dst); !strings.Contains(got, "/sub/c file 0644 c") || strings.Contains(got, "junk") {
		t.Errorf("tree:\n%s", got)
	}
}
