package resources

import (
	"os"
	"os/user"
	"path/filepath"
	"testing"
)

// The quick in-sync test of a pass (File.inSync, which lets a check skip pinning
// the directory) against the full check, over every combination of the managed
// properties and the kinds of path: where inSync says in sync, the full check
// reports nothing and changes nothing; and it says so wherever the full check
// does, but for the two cases it leaves to the full check on purpose (nothing at
// the path, and a link's target, which needs a readlink).
func TestFileInSyncAgreesWithCheck(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	grp, err := user.LookupGroupId(me.Gid)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths := map[string]string{}
	for _, kind := range []string{"file", "directory", "link", "absent"} {
		p := filepath.Join(dir, kind)
		switch kind {
		case "file":
			err = os.WriteFile(p, []byte("a\n"), 0o644)
		case "directory":
			err = os.Mkdir(p, 0o755)
		case "link":
			err = os.Symlink("x", p)
		}
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, map[string]os.FileMode{"file": 0o644, "directory": 0o755}[kind]) // the umask aside
		paths[kind] = p
	}
	str := func(s string) *string { return &s }
	agreed, quick := 0, 0
	for kind, path := range paths {
		for _, ensure := range []string{"", "file", "present", "directory", "link", "absent"} {
			for _, content := range []*string{nil, str("a\n"), str("b\n"), str("a\nb\n")} {
				for _, mode := range []string{"", "0644", "0755", "0600", "u+w", "go-w", "bad"} {
					for _, owner := range []string{"", me.Username, "no-such-user"} {
						for _, group := range []string{"", grp.Name, "no-such-group"} {
							for _, replace := range []bool{true, false} {
								for _, target := range []string{"", "x", "y"} {
									f := &File{Path: path, Ensure: ensure, Content: content, Mode: mode,
										Owner: owner, Group: group, Replace: replace, Target: target}
									h := newFileHandle()
									f.Init(h)
									cur, err := readState(path)
									if err != nil {
										t.Fatal(err)
									}
									q := f.inSync(cur)
									ok, err := f.checkState(cur, false)
									full := ok && err == nil && len(h.changes) == 0 && len(h.logs) == 0
									if q && !full {
										t.Fatalf("%s: %+v: inSync says in sync, the check says %v, %v, changes %v, logs %q",
											kind, f, ok, err, h.changes, h.logs)
									}
									leftToFull := kind == "absent" || (kind == "link" && target != "" && (ensure == "link" || ensure == ""))
									if full && !q && !leftToFull && len(h.logs) == 0 {
										t.Fatalf("%s: %+v: the check finds it in sync, inSync does not", kind, f)
									}
									if q {
										quick++
									}
									if q == full {
										agreed++
									}
								}
							}
						}
					}
				}
			}
		}
	}
	if quick == 0 {
		t.Fatal("inSync never said in sync")
	}
	t.Logf("%d combinations in sync by the quick test, %d agreeing with the full check", quick, agreed)
}
