package resources

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// accountsRoot makes a minimal system root for the shadow tools' --root: the
// account files with root alone, and the host's login.defs. The tools chroot into
// it, which needs root; without root the test skips, except in CI, where it fails.
func accountsRoot(t *testing.T) string {
	t.Helper()
	testenv.NeedRoot(t, "useradd --root chroots")
	for _, tool := range []string{"useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v (Debian package passwd)", tool, err)
		}
	}
	root := t.TempDir()
	files := map[string]string{
		"etc/passwd":  "root:x:0:0:root:/root:/bin/bash\n",
		"etc/group":   "root:x:0:\nadm:x:4:\nsudo:x:27:\n",
		"etc/shadow":  "root:*:19000:0:99999:7:::\n",
		"etc/gshadow": "root:*::\nadm:*::\nsudo:*::\n",
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	defs, err := os.ReadFile("/etc/login.defs")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/login.defs"), defs, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func passwdLine(t *testing.T, root, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, name+":") {
			return l
		}
	}
	return ""
}

// apply runs CheckApply with apply and returns the change messages.
func applyOnce(t *testing.T, r engine.Resource, h *fileHandle) (bool, []string) {
	t.Helper()
	ok, err := r.CheckApply(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, c := range h.take() {
		msgs = append(msgs, c.Property+": "+c.Message)
	}
	return ok, msgs
}

// TestUserTimeline creates a group and a user with the real shadow tools, finds
// them in sync, repairs drift property by property, then removes both.
func TestUserTimeline(t *testing.T) {
	root := accountsRoot(t)
	gid, uid := 2001, 2001
	g := &Group{Name: "deploy", GID: &gid, Root: root}
	comment := "Deploy user"
	u := &User{Name: "deploy", UID: &uid, GID: "deploy", Groups: []string{"adm"}, Home: "/srv/deploy",
		Shell: "/bin/sh", Comment: &comment, Root: root}
	gh, uh := newFileHandle(), newFileHandle()
	for _, r := range []engine.Resource{g, u} {
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	_ = g.Init(gh)
	_ = u.Init(uh)

	steps := []struct {
		name   string
		drift  func() error
		r      engine.Resource
		h      *fileHandle
		want   []string
		passwd string
	}{
		{"create group", nil, g, gh, []string{"ensure: created"}, ""},
		{"create user", nil, u, uh, []string{"ensure: created"}, "deploy:x:2001:2001:Deploy user:/srv/deploy:/bin/sh"},
		{"in sync", nil, u, uh, nil, "deploy:x:2001:2001:Deploy user:/srv/deploy:/bin/sh"},
		{"shell and comment drift", func() error {
			return runTool(context.Background(), root, "usermod", "-s", "/bin/bash", "-c", "someone", "deploy")
		}, u, uh, []string{"comment: comment changed 'someone' to 'Deploy user'", "shell: shell changed '/bin/bash' to '/bin/sh'"},
			"deploy:x:2001:2001:Deploy user:/srv/deploy:/bin/sh"},
		{"groups: minimum keeps extra groups", func() error {
			return runTool(context.Background(), root, "usermod", "-G", "sudo", "deploy")
		}, u, uh, []string{"groups: groups changed sudo to ['adm', 'sudo']"}, ""},
		{"uid drift", func() error {
			return runTool(context.Background(), root, "usermod", "-u", "2500", "deploy")
		}, u, uh, []string{"uid: uid changed 2500 to 2001"}, "deploy:x:2001:2001:Deploy user:/srv/deploy:/bin/sh"},
	}
	for _, s := range steps {
		if s.drift != nil {
			if err := s.drift(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		ok, msgs := applyOnce(t, s.r, s.h)
		if strings.Join(msgs, "\n") != strings.Join(s.want, "\n") || ok != (len(s.want) == 0) {
			t.Errorf("%s: ok %v changes %q, want %q", s.name, ok, msgs, s.want)
		}
		if s.passwd != "" {
			if got := passwdLine(t, root, "deploy"); got != s.passwd {
				t.Errorf("%s: passwd %q, want %q", s.name, got, s.passwd)
			}
		}
		if ok, msgs := applyOnce(t, s.r, s.h); !ok || len(msgs) != 0 {
			t.Errorf("%s: not in sync after apply: %q", s.name, msgs)
		}
	}

	// inclusive membership drops the extra group.
	u.Inclusive = true
	if _, msgs := applyOnce(t, u, uh); strings.Join(msgs, "") != "groups: groups changed adm,sudo to ['adm']" {
		t.Errorf("inclusive: %q", msgs)
	}
	// an unknown primary group is an error, not a change.
	u.GID = "nosuchgroup"
	if _, err := u.CheckApply(context.Background(), true); err == nil || !strings.Contains(err.Error(), "Could not find group(s) nosuchgroup") {
		t.Errorf("unknown gid: %v", err)
	}
	u.GID = "deploy"

	u.Absent, g.Absent = true, true
	if _, msgs := applyOnce(t, u, uh); strings.Join(msgs, "") != "ensure: removed" {
		t.Errorf("remove user: %q", msgs)
	}
	// userdel removes the user's own group too (USERGROUPS_ENAB): the group is then
	// already absent.
	if _, msgs := applyOnce(t, g, gh); len(msgs) > 1 || len(msgs) == 1 && msgs[0] != "ensure: removed" {
		t.Errorf("remove group: %q", msgs)
	}
	a, err := readAccounts(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.users["deploy"]; ok {
		t.Error("user still in passwd")
	}
	if _, ok := a.groups["deploy"]; ok {
		t.Error("group still in group")
	}
}

func TestUserValidate(t *testing.T) {
	for _, u := range []User{
		{Name: "a:b"},
		{Name: "x", Home: "rel"},
		{Name: "x", Groups: []string{"100"}},
		{Name: "x", Groups: []string{"a,b"}},
	} {
		if err := u.Validate(); err == nil {
			t.Errorf("%+v: no error", u)
		}
	}
}
