package resources

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/fswatch"
)

// fileHandle records what a File tells the engine; pokes arrive on a channel.
type fileHandle struct {
	mu      sync.Mutex
	changes []engine.Change
	logs    []string
	pokes   chan struct{}
}

func newFileHandle() *fileHandle { return &fileHandle{pokes: make(chan struct{}, 1)} }

func (h *fileHandle) Poke() {
	select {
	case h.pokes <- struct{}{}:
	default:
	}
}

func (h *fileHandle) Change(c engine.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.changes = append(h.changes, c)
}

func (h *fileHandle) Logf(level engine.Level, format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, level.String()+": "+fmt.Sprintf(format, args...))
}

func (h *fileHandle) PropertyLogf(level engine.Level, property, format string, args ...any) {
	h.Logf(level, property+": "+format, args...)
}

func (h *fileHandle) Printf(level engine.Level, format string, args ...any) {
	h.Logf(level, format, args...)
}

// take returns and forgets the changes recorded so far.
func (h *fileHandle) take() []engine.Change {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.changes
	h.changes = nil
	return c
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "{sha256}" + hex.EncodeToString(sum[:])
}

func md5sum(s string) string {
	sum := md5.Sum([]byte(s))
	return "{md5}" + hex.EncodeToString(sum[:])
}

func ptr(s string) *string { return &s }

// tree describes everything under dir, to check that noop changes nothing.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := readState(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %s %04o %d:%d", strings.TrimPrefix(p, dir), st.typ, st.perm, st.uid, st.gid)
		switch st.typ {
		case "file":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += " " + string(b)
		case "link":
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func hasUser(name string) bool {
	_, err := user.Lookup(name)
	return err == nil
}

func hasGroup(name string) bool {
	_, err := user.LookupGroup(name)
	return err == nil
}

// TestFileChanges drives one CheckApply per case, first without applying (the same
// changes must be told and nothing may change), then applying, then once more to see
// it converged. Run as root: owner and group cases need it.
func TestFileChangesAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("TestFileChangesAsRoot must run as root (owner and group cases)")
	}
	type setup func(t *testing.T, p string)
	write := func(content string, mode os.FileMode) setup {
		return func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte(content), mode); err != nil {
				t.Fatal(err)
			}
			if err := unix.Chmod(p, uint32(mode)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mkdir := func(mode os.FileMode) setup {
		return func(t *testing.T, p string) {
			if err := os.Mkdir(p, mode); err != nil {
				t.Fatal(err)
			}
			if err := unix.Chmod(p, uint32(mode)); err != nil {
				t.Fatal(err)
			}
		}
	}
	link := func(target string) setup {
		return func(t *testing.T, p string) {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	chg := func(prop, prev, desired, msg string) engine.Change {
		return engine.Change{Property: prop, Previous: prev, Desired: desired, Message: msg}
	}
	type check func(t *testing.T, p string)
	isFile := func(content string, perm uint32) check {
		return func(t *testing.T, p string) {
			st, err := readState(p)
			if err != nil || st.typ != "file" || st.perm != perm {
				t.Errorf("state %+v %v, want file %04o", st, err, perm)
			}
			if b, _ := os.ReadFile(p); string(b) != content {
				t.Errorf("content %q, want %q", b, content)
			}
		}
	}
	isType := func(typ string, perm uint32) check {
		return func(t *testing.T, p string) {
			st, err := readState(p)
			if err != nil || st.typ != typ || (perm != 0 && st.perm != perm) {
				t.Errorf("state %+v %v, want %s %04o", st, err, typ, perm)
			}
		}
	}
	nogroup := "nogroup"
	if !hasGroup(nogroup) {
		nogroup = "nobody"
	}

	cases := []struct {
		name    string
		before  setup
		file    File // Path is set by the test; Replace is true unless noReplace
		noRepl  bool
		want    func(p string) []engine.Change
		wantErr string // substring; the apply pass must fail with it
		perm    bool   // the error must be permanent
		after   check
		stays   bool // still out of sync after apply (an error case)
	}{
		{name: "create with content", file: File{Ensure: "file", Content: ptr("hello\n")},
			want: func(string) []engine.Change {
				return []engine.Change{chg("ensure", "absent", "file", "defined content as '"+sha("hello\n")+"'")}
			},
			after: isFile("hello\n", 0o644)},
		{name: "create with content and mode", file: File{Ensure: "file", Content: ptr("x"), Mode: "0600"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("ensure", "absent", "file", "defined content as '"+sha("x")+"'")}
			},
			after: isFile("x", 0o600)},
		{name: "create empty", file: File{Ensure: "file"},
			want:  func(string) []engine.Change { return []engine.Change{chg("ensure", "absent", "file", "created")} },
			after: isFile("", 0o644)},
		{name: "create sensitive", file: File{Ensure: "file", Content: ptr("secret"), ContentSensitive: true, Mode: "600"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("ensure", "[redacted]", "[redacted]", "changed [redacted] to [redacted]")}
			},
			after: isFile("secret", 0o600)},
		{name: "present creates", file: File{Ensure: "present"},
			want:  func(string) []engine.Change { return []engine.Change{chg("ensure", "absent", "present", "created")} },
			after: isFile("", 0o644)},
		{name: "present accepts a directory", before: mkdir(0o755), file: File{Ensure: "present"},
			after: isType("directory", 0o755)},
		{name: "directory created with dirmask", file: File{Ensure: "directory", Mode: "0640"},
			want:  func(string) []engine.Change { return []engine.Change{chg("ensure", "absent", "directory", "created")} },
			after: isType("directory", 0o750)},
		{name: "link created", file: File{Ensure: "link", Target: "/etc/hostname"},
			want:  func(string) []engine.Change { return []engine.Change{chg("ensure", "absent", "link", "created")} },
			after: isType("link", 0)},
		{name: "absent removes a file", before: write("x", 0o644), file: File{Ensure: "absent"},
			want:  func(string) []engine.Change { return []engine.Change{chg("ensure", "file", "absent", "removed")} },
			after: isType("absent", 0)},
		{name: "absent keeps a directory without force", before: mkdir(0o755), file: File{Ensure: "absent"},
			after: isType("directory", 0o755)},
		{name: "absent removes a directory with force", before: mkdir(0o755), file: File{Ensure: "absent", Force: true},
			want:  func(string) []engine.Change { return []engine.Change{chg("ensure", "directory", "absent", "removed")} },
			after: isType("absent", 0)},
		{name: "file over directory without force", before: mkdir(0o755), file: File{Ensure: "file"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("ensure", "directory", "file", "ensure changed 'directory' to 'file'")}
			},
			wantErr: "change from 'directory' to 'file' failed: Could not set 'file' on ensure: Is a directory - ",
			perm:    true, stays: true, after: isType("directory", 0o755)},
		{name: "file over directory with force", before: mkdir(0o755), file: File{Ensure: "file", Force: true, Content: ptr("c")},
			want: func(string) []engine.Change {
				return []engine.Change{chg("ensure", "directory", "file", "defined content as '"+sha("c")+"'")}
			},
			after: isFile("c", 0o644)},
		{name: "file over link", before: link("/etc/hostname"), file: File{Ensure: "file"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("ensure", "link", "file", "ensure changed 'link' to 'file'")}
			},
			after: isFile("", 0o644)},
		{name: "directory over file", before: write("x", 0o644), file: File{Ensure: "directory"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("ensure", "file", "directory", "ensure changed 'file' to 'directory'")}
			},
			after: isType("directory", 0)},
		{name: "link over file", before: write("x", 0o644), file: File{Ensure: "link", Target: "/etc"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("ensure", "file", "link", "ensure changed 'file' to 'link'")}
			},
			after: isType("link", 0)},
		{name: "content changed", before: write("old\n", 0o640), file: File{Ensure: "file", Content: ptr("new\n")},
			want: func(string) []engine.Change {
				return []engine.Change{chg("content", sha("old\n"), sha("new\n"),
					"content changed '"+sha("old\n")+"' to '"+sha("new\n")+"'")}
			},
			after: isFile("new\n", 0o640)},
		{name: "content without ensure", before: write("old", 0o644), file: File{Content: ptr("new")},
			want: func(string) []engine.Change {
				return []engine.Change{chg("content", sha("old"), sha("new"), "content changed '"+sha("old")+"' to '"+sha("new")+"'")}
			},
			after: isFile("new", 0o644)},
		{name: "nothing there without ensure", file: File{Content: ptr("new"), Mode: "0600"},
			after: isType("absent", 0)},
		{name: "content md5", before: write("old", 0o644), file: File{Content: ptr("new"), Checksum: "md5"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("content", md5sum("old"), md5sum("new"), "content changed '"+md5sum("old")+"' to '"+md5sum("new")+"'")}
			},
			after: isFile("new", 0o644)},
		{name: "content sensitive", before: write("old", 0o644), file: File{Content: ptr("new"), ContentSensitive: true},
			want: func(string) []engine.Change {
				return []engine.Change{chg("content", "[redacted]", "[redacted]", "changed [redacted] to [redacted]")}
			},
			after: isFile("new", 0o644)},
		{name: "replace false keeps content", before: write("old", 0o644), noRepl: true, file: File{Ensure: "file", Content: ptr("new")},
			after: isFile("old", 0o644)},
		{name: "replace false keeps a directory", before: mkdir(0o755), noRepl: true, file: File{Ensure: "file"},
			after: isType("directory", 0o755)},
		{name: "replace false creates", noRepl: true, file: File{Ensure: "file", Content: ptr("new")},
			want: func(string) []engine.Change {
				return []engine.Change{chg("ensure", "absent", "file", "defined content as '"+sha("new")+"'")}
			},
			after: isFile("new", 0o644)},
		{name: "mode", before: write("x", 0o644), file: File{Mode: "0600"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("mode", "0644", "0600", "mode changed '0644' to '0600'")}
			},
			after: isFile("x", 0o600)},
		{name: "mode three digits", before: write("x", 0o4755), file: File{Mode: "755"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("mode", "4755", "0755", "mode changed '4755' to '0755'")}
			},
			after: isFile("x", 0o755)},
		{name: "mode on directory adds search bits", before: mkdir(0o700), file: File{Ensure: "directory", Mode: "0644"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("mode", "0700", "0755", "mode changed '0700' to '0755'")}
			},
			after: isType("directory", 0o755)},
		{name: "symbolic mode", before: write("x", 0o600), file: File{Mode: "u=rw,go=r"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("mode", "0600", "u=rw,go=r", "mode changed '0600' to 'u=rw,go=r'")}
			},
			after: isFile("x", 0o644)},
		{name: "mode of a link is not managed", before: link("/etc/hostname"), file: File{Ensure: "link", Target: "/etc/hostname", Mode: "0600"},
			after: isType("link", 0)},
		{name: "link target", before: link("/a"), file: File{Ensure: "link", Target: "/b"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("target", "/a", "/b", "target changed '/a' to '/b'")}
			},
			after: func(t *testing.T, p string) {
				if l, _ := os.Readlink(p); l != "/b" {
					t.Errorf("link to %q", l)
				}
			}},
		{name: "owner and group by name", before: write("x", 0o644), file: File{Owner: "root", Group: "root"},
			after: isFile("x", 0o644)},
		{name: "owner and group by id", before: write("x", 0o644), file: File{Owner: "0", Group: "0"},
			after: isFile("x", 0o644)},
		{name: "owner unknown", before: write("x", 0o644), file: File{Owner: "no-such-user-here"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("owner", "root", "no-such-user-here", "owner changed 'root' to 'no-such-user-here'")}
			},
			wantErr: "Could not find user no-such-user-here", stays: true},
		{name: "missing parent", file: File{Ensure: "file"},
			want:    func(string) []engine.Change { return []engine.Change{chg("ensure", "absent", "file", "created")} },
			wantErr: "Could not set 'file' on ensure: No such file or directory - ", stays: true},
		{name: "missing parent of directory", file: File{Ensure: "directory"},
			want:    func(string) []engine.Change { return []engine.Change{chg("ensure", "absent", "directory", "created")} },
			wantErr: "change from 'absent' to 'directory' failed: Cannot create ", stays: true},
		{name: "backup suffix", before: write("old", 0o640), file: File{Content: ptr("new"), Backup: ".bak"},
			want: func(string) []engine.Change {
				return []engine.Change{chg("content", sha("old"), sha("new"), "content changed '"+sha("old")+"' to '"+sha("new")+"'")}
			},
			after: func(t *testing.T, p string) {
				isFile("new", 0o640)(t, p)
				isFile("old", 0o640)(t, p+".bak")
			}},
		{name: "content, owner and mode in Puppet's order", before: write("old", 0o644),
			file: File{Ensure: "file", Content: ptr("new"), Mode: "0600", Owner: "nobody", Group: nogroup},
			want: func(string) []engine.Change {
				return []engine.Change{
					chg("content", sha("old"), sha("new"), "content changed '"+sha("old")+"' to '"+sha("new")+"'"),
					chg("owner", "root", "nobody", "owner changed 'root' to 'nobody'"),
					chg("group", "root", nogroup, "group changed 'root' to '"+nogroup+"'"),
					chg("mode", "0644", "0600", "mode changed '0644' to '0600'"),
				}
			},
			after: isFile("new", 0o600)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if strings.Contains(c.name, "owner") && c.file.Owner == "nobody" && !hasUser("nobody") {
				t.Fatal("user nobody is missing")
			}
			root := t.TempDir()
			p := filepath.Join(root, "f")
			if strings.HasPrefix(c.name, "missing parent") {
				p = filepath.Join(root, "no", "f")
			}
			if c.before != nil {
				c.before(t, p)
			}
			var want []engine.Change
			if c.want != nil {
				want = c.want(p)
			}
			f := c.file
			f.Path = p
			f.Replace = !c.noRepl
			if err := f.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			h := newFileHandle()
			if err := f.Init(h); err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()

			// Noop: the same changes are told, nothing changes.
			was := tree(t, root)
			ok, err := f.CheckApply(ctx, false)
			if err != nil {
				t.Fatalf("noop: %v", err)
			}
			if ok != (len(want) == 0) {
				t.Errorf("noop ok = %v with changes %v", ok, want)
			}
			if got := h.take(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("noop changes\n got %q\nwant %q", got, want)
			}
			if now := tree(t, root); now != was {
				t.Errorf("noop changed the tree:\n%s\nto\n%s", was, now)
			}

			// Apply.
			ok, err = f.CheckApply(ctx, true)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("apply error %v, want %q", err, c.wantErr)
				}
				if engine.IsPermanent(err) != c.perm {
					t.Errorf("IsPermanent = %v, want %v", !c.perm, c.perm)
				}
				var ce *engine.ChangeError
				if !errors.As(err, &ce) {
					t.Errorf("%v is not a ChangeError", err)
				}
			} else if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if ok != (len(want) == 0) {
				t.Errorf("apply ok = %v with changes %v", ok, want)
			}
			if got := h.take(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("apply changes\n got %q\nwant %q", got, want)
			}
			if c.after != nil {
				c.after(t, p)
			}

			// Converged.
			ok, err = f.CheckApply(ctx, true)
			if c.stays {
				if ok || err == nil {
					t.Errorf("third pass ok=%v err=%v, want the same failure", ok, err)
				}
				return
			}
			if !ok || err != nil {
				t.Errorf("third pass ok=%v err=%v changes %v, want converged", ok, err, h.take())
			}
			if got := h.take(); len(got) != 0 {
				t.Errorf("third pass changes %v", got)
			}
		})
	}
}

func TestFileAbsentDirectoryNotice(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d")
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &File{Path: p, Ensure: "absent", Replace: true}
	h := newFileHandle()
	f.Init(h)
	if ok, err := f.CheckApply(t.Context(), true); !ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if fmt.Sprint(h.logs) != "[Notice: Not removing directory; use 'force' to override]" {
		t.Errorf("logs %q", h.logs)
	}
}

func TestFileValidate(t *testing.T) {
	for _, c := range []struct {
		f    File
		want string
	}{
		{File{Path: "/x", Ensure: "file", Mode: "0644"}, ""},
		{File{Path: "/x", Mode: "u=rw,go=r"}, ""},
		{File{Path: "/x", Mode: "a+X"}, ""},
		{File{Path: "x"}, "fully qualified"},
		{File{Path: "/x/"}, "fully qualified"},
		{File{Path: "/x", Ensure: "fiel"}, `invalid ensure "fiel"`},
		{File{Path: "/x", Ensure: "link"}, "Cannot create a symlink without a target"},
		{File{Path: "/x", Mode: "0999"}, "mode"},
		{File{Path: "/x", Mode: "a=X"}, "X only works with the '+' operator"},
		{File{Path: "/x", Mode: "99999"}, "mode"},
		{File{Path: "/x", Checksum: "mtime"}, `checksum "mtime" is not supported`},
		{File{Path: "/x", Backup: "puppet"}, `backup "puppet"`},
	} {
		err := c.f.Validate()
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.f, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !engine.IsPermanent(err) {
			t.Errorf("%+v: error %v, want a permanent %q", c.f, err, c.want)
		}
	}
}

func TestSymbolicModes(t *testing.T) {
	for _, c := range []struct {
		mode    string
		current uint32
		dir     bool
		want    uint32
	}{
		{"u=rw,go=r", 0o777, false, 0o644},
		{"ug+w", 0o644, false, 0o664},
		{"o-r", 0o644, false, 0o640},
		{"a+X", 0o644, false, 0o644},
		{"a+X", 0o744, false, 0o755},
		{"a+X", 0o644, true, 0o755},
		{"u+s", 0o755, false, 0o4755},
		{"g+s", 0o755, false, 0o2755},
		{"+t", 0o755, false, 0o1755},
		{"go=u", 0o700, false, 0o777},
		{"a=r,ug+w", 0o000, false, 0o664},
		{"=", 0o777, false, 0o000},
	} {
		got, err := symbolicToBits(c.mode, c.current, c.dir)
		if err != nil || got != c.want {
			t.Errorf("%q on %04o (dir %v) = %04o, %v; want %04o", c.mode, c.current, c.dir, got, err, c.want)
		}
	}
}

// expectPoke waits for a poke after do and returns the latency.
func expectPoke(t *testing.T, h *fileHandle, what string, do func() error) time.Duration {
	t.Helper()
	select {
	case <-h.pokes:
	default:
	}
	start := time.Now()
	if err := do(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	select {
	case <-h.pokes:
		d := time.Since(start)
		t.Logf("%s: poked after %v", what, d)
		return d
	case <-time.After(time.Second):
		t.Fatalf("%s: no poke within 1s", what)
		return 0
	}
}

// repair runs CheckApply after a poke: it must change exactly what is named, then
// converge.
func repair(t *testing.T, f *File, h *fileHandle, props ...string) {
	t.Helper()
	ok, err := f.CheckApply(t.Context(), true)
	if err != nil || ok {
		t.Fatalf("repair: ok=%v err=%v", ok, err)
	}
	var got []string
	for _, c := range h.take() {
		got = append(got, c.Property)
	}
	if fmt.Sprint(got) != fmt.Sprint(props) {
		t.Errorf("repair changed %v, want %v", got, props)
	}
	if ok, err := f.CheckApply(t.Context(), true); !ok || err != nil {
		t.Fatalf("after repair: ok=%v err=%v changes %v", ok, err, h.take())
	}
}

func startWatcher(t *testing.T, ctx context.Context) *fswatch.Watcher {
	t.Helper()
	w, err := fswatch.New()
	if err != nil {
		t.Fatal(err)
	}
	w.Start(ctx)
	return w
}

// TestFileTimeline: create, converge, then break the file in several ways; each break
// pokes within a second and the next CheckApply repairs it.
func TestFileTimeline(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := startWatcher(t, ctx)
	defer w.Close()

	root := t.TempDir()
	dir := filepath.Join(root, "etc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "motd")
	f := &File{Path: p, Ensure: "file", Content: ptr("hello\n"), Mode: "0640", Replace: true, pathWatch: pathWatch{watcher: w}}
	h := newFileHandle()
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	f.Init(h)
	if err := f.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	repair(t, f, h, "ensure") // the first run creates it

	var deletes []time.Duration
	for i := 0; i < 5; i++ {
		deletes = append(deletes, expectPoke(t, h, "delete", func() error { return os.Remove(p) }))
		repair(t, f, h, "ensure")
	}
	t.Logf("delete→poke: %v", deletes)
	expectPoke(t, h, "edit", func() error { return os.WriteFile(p, []byte("changed\n"), 0o640) })
	repair(t, f, h, "content")
	expectPoke(t, h, "append", func() error {
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		defer fh.Close()
		_, err = fh.WriteString("more\n")
		return err
	})
	repair(t, f, h, "content")
	expectPoke(t, h, "chmod", func() error { return os.Chmod(p, 0o666) })
	repair(t, f, h, "mode")
	expectPoke(t, h, "chown", func() error { return os.Chown(p, 65534, 65534) })
	ok, err := f.CheckApply(ctx, true) // owner is not managed: nothing to do
	if !ok || err != nil {
		t.Errorf("after chown: ok=%v err=%v", ok, err)
	}
	expectPoke(t, h, "replaced by a directory", func() error {
		if err := os.Remove(p); err != nil {
			return err
		}
		return os.Mkdir(p, 0o755)
	})
	if _, err := f.CheckApply(ctx, true); !engine.IsPermanent(err) {
		t.Errorf("file over a directory without force: %v, want a permanent error", err)
	}
	h.take()
	expectPoke(t, h, "directory removed", func() error { return os.Remove(p) })
	repair(t, f, h, "ensure")

	// The parent goes away: the repair fails until it is back.
	expectPoke(t, h, "parent removed", func() error { return os.RemoveAll(dir) })
	if _, err := f.CheckApply(ctx, true); err == nil || engine.IsPermanent(err) {
		t.Errorf("missing parent: %v, want a transient error", err)
	}
	h.take()
	expectPoke(t, h, "parent recreated", func() error { return os.Mkdir(dir, 0o755) })
	repair(t, f, h, "ensure")

	// After Close, no more pokes (the repair's own writes may still poke before).
	time.Sleep(20 * time.Millisecond)
	f.Close()
	select {
	case <-h.pokes:
	default:
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.pokes:
		t.Error("poke after Close")
	case <-time.After(50 * time.Millisecond):
	}
	if s := w.Stats(); s.Paths != 0 {
		t.Errorf("watcher still holds %+v", s)
	}
}

func TestLinkTimeline(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := startWatcher(t, ctx)
	defer w.Close()

	root := t.TempDir()
	p := filepath.Join(root, "current")
	f := &File{Path: p, Ensure: "link", Target: "releases/2", Replace: true, pathWatch: pathWatch{watcher: w}}
	h := newFileHandle()
	f.Init(h)
	if err := f.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	repair(t, f, h, "ensure")
	expectPoke(t, h, "retarget", func() error {
		tmp := filepath.Join(root, "tmp")
		if err := os.Symlink("releases/1", tmp); err != nil {
			return err
		}
		return os.Rename(tmp, p)
	})
	repair(t, f, h, "target")
	expectPoke(t, h, "replaced by a file", func() error {
		if err := os.Remove(p); err != nil {
			return err
		}
		return os.WriteFile(p, nil, 0o644)
	})
	repair(t, f, h, "ensure")
	if l, _ := os.Readlink(p); l != "releases/2" {
		t.Errorf("link to %q", l)
	}
}

// TestWatchEndsWithContext: the registration goes when Watch's context ends.
func TestWatchEndsWithContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := startWatcher(t, t.Context())
	defer w.Close()
	ctx, cancel := context.WithCancel(t.Context())
	f := &File{Path: filepath.Join(t.TempDir(), "f"), Ensure: "file", Replace: true, pathWatch: pathWatch{watcher: w}}
	f.Init(newFileHandle())
	if err := f.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Paths != 1 {
		t.Fatalf("Stats %+v, want 1 path", s)
	}
	cancel()
	deadline := time.Now().Add(time.Second)
	for w.Stats().Paths != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("registration kept after the context ended: %+v", w.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	f.Close()
}

func TestSameContent(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("0123456789abcdef", 3000) // longer than one read buffer
	for _, tc := range []struct {
		name, have, want string
		same             bool
	}{
		{"equal", "a\n", "a\n", true},
		{"empty both", "", "", true},
		{"file longer", "a\nb", "a\n", false},
		{"file shorter", "a", "a\n", false},
		{"differs", "b\n", "a\n", false},
		{"empty file", "", "a", false},
		{"long equal", long, long, true},
		{"long differs at end", long + "x", long + "y", false},
		{"long shorter", long, long + "z", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(p, []byte(tc.have), 0o644); err != nil {
				t.Fatal(err)
			}
			same, err := sameContent(p, tc.want, int64(len(tc.have)), nil)
			if err != nil || same != tc.same {
				t.Errorf("sameContent = %v, %v; want %v", same, err, tc.same)
			}
		})
	}
	if _, err := sameContent(filepath.Join(dir, "missing"), "x", 1, nil); err == nil {
		t.Error("missing file: no error")
	}
}

// TestFileValidateCmd: new content replaces the file only when validate_cmd accepts
// the temporary file that holds it, for a new file and a changed one; a rejection
// keeps the old file, leaves no temporary file and fails with Puppet's message.
func TestFileValidateCmd(t *testing.T) {
	for _, tc := range []struct {
		name, old, content, cmd, repl string
		wantErr                       string // a prefix; "" accepts
	}{
		{name: "accepted", old: "old\n", content: "good\n", cmd: "/bin/grep -q good %"},
		{name: "rejected", old: "old\n", content: "bad\n", cmd: "/bin/grep -q good %", wantErr: "Execution of '/bin/grep -q good "},
		{name: "new file rejected", content: "bad\n", cmd: "/bin/grep -q good %", wantErr: "Execution of '/bin/grep -q good "},
		{name: "output in the error", old: "old\n", content: "x\n", cmd: "echo broken syntax >&2; test -s @ && false", repl: "@", wantErr: "Execution of 'echo broken syntax >&2; test -s "},
		{name: "replacement", old: "old\n", content: "%good\n", cmd: "/bin/grep -q %good @", repl: "@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.conf")
			if tc.old != "" {
				if err := os.WriteFile(path, []byte(tc.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f := &File{Path: path, Ensure: "file", Content: ptr(tc.content), Replace: true, ValidateCmd: tc.cmd, ValidateReplacement: tc.repl}
			if err := f.Validate(); err != nil {
				t.Fatal(err)
			}
			h := newFileHandle()
			if err := f.Init(h); err != nil {
				t.Fatal(err)
			}
			_, err := f.CheckApply(context.Background(), true)
			b, readErr := os.ReadFile(path)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("CheckApply: %v", err)
			case tc.wantErr == "" && string(b) != tc.content:
				t.Errorf("content %q, want %q", b, tc.content)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one with %q", err, tc.wantErr)
			case tc.wantErr != "" && tc.old == "" && readErr == nil:
				t.Errorf("rejected new file was created: %q", b)
			case tc.wantErr != "" && tc.old != "" && string(b) != tc.old:
				t.Errorf("rejected content replaced the file: %q", b)
			}
			if tc.name == "output in the error" && !strings.HasSuffix(err.Error(), "returned 1: broken syntax") {
				t.Errorf("error %q does not end with the command's output", err)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != "app.conf" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}
