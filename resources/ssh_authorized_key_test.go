package resources

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// realKeys is an authorized_keys file with comments, options Puppet re-joins, an
// unnamed key, an SSH1 key and odd spacing; realKeysAsPuppet is the same file as
// real Puppet 7 wrote it back after adding "ssh-rsa AAAA9 new@x" (observed).
const (
	realKeys = "# comment\n\n  # indented comment\nssh-rsa AAAA1 plain@x\n" +
		`no-pty,from="a,b",  command="echo \"hi\"" ssh-ed25519 AAAA2 opts@x with spaces` + "\n" +
		"ssh-ed25519 AAAA3\n1024 35 12345 v1@x\nssh-dss   AAAA4   tabs@x\n"
	realKeysAsPuppet = "# comment\n\n  # indented comment\nssh-rsa AAAA1 plain@x\n" +
		`no-pty,from="a,b",command="echo \"hi\"" ssh-ed25519 AAAA2 opts@x with spaces` + "\n" +
		"ssh-ed25519 AAAA3 \n1024 35 12345 v1@x\nssh-dss AAAA4 tabs@x\n"
)

// runKey applies k to a target holding before (nil: no file), in dir/ssh/keys.
func runKey(t *testing.T, k SSHAuthorizedKey, before *string, apply bool) (bool, []string, string, error) {
	t.Helper()
	dir := t.TempDir()
	if k.Target == "" && k.User == "root" || k.Target == "-" {
		k.Target = filepath.Join(dir, "ssh", "keys")
	}
	if before != nil {
		if err := os.MkdirAll(filepath.Dir(k.Target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(k.Target, []byte(*before), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	hd := newFileHandle()
	k.now = fixedNow
	_ = k.Init(hd)
	ok, err := k.CheckApply(t.Context(), apply)
	var msgs []string
	for _, c := range hd.take() {
		msgs = append(msgs, c.Property+": "+c.Message)
	}
	data, _ := os.ReadFile(k.Target)
	return ok, msgs, strings.TrimPrefix(string(data), fixedHeader), err
}

func TestSSHKeyRoundTrip(t *testing.T) {
	k := SSHAuthorizedKey{Name: "new@x", User: "root", Type: "ssh-rsa", Key: "AAAA9", DropPrivileges: true}
	_, msgs, after, err := runKey(t, k, sp(realKeys), true)
	if err != nil || strings.Join(msgs, "|") != "ensure: created" {
		t.Fatalf("%v %q", err, msgs)
	}
	if want := realKeysAsPuppet + "ssh-rsa AAAA9 new@x\n"; after != want {
		t.Errorf("file:\n%s\nwant\n%s", after, want)
	}
	if got := parseOptions(`no-pty,from="a,b",  command="echo \"hi\"" , x`); strings.Join(got, "|") != `no-pty|from="a,b"|command="echo \"hi\""|x` {
		t.Errorf("options %q", got)
	}
}

// TestSSHKeyCheckApply: messages as Puppet 7 prints them (observed with
// sshkeys_core) and the file after.
func TestSSHKeyCheckApply(t *testing.T) {
	existing := "# keys\nfrom=\"x\" ssh-rsa AAAold alice@laptop\nssh-rsa  AAAB3   bob@x\nssh-rsa AAAgone gone@x\n"
	for _, tc := range []struct {
		name   string
		k      SSHAuthorizedKey
		before *string
		msgs   []string
		after  string
	}{
		{name: "create with options", k: SSHAuthorizedKey{Name: "a@b", Type: "ssh-ed25519", Key: "AAAA", Options: []string{"no-pty", `from="10.0.0.0/8,192.168.1.1"`}},
			msgs: []string{"ensure: created"}, after: `no-pty,from="10.0.0.0/8,192.168.1.1" ssh-ed25519 AAAA a@b` + "\n"},
		{name: "in sync", k: SSHAuthorizedKey{Name: "bob@x", Type: "ssh-rsa", Key: "AAAB3"}, before: sp(existing), after: existing},
		{name: "type, key, options", k: SSHAuthorizedKey{Name: "alice@laptop", Type: "ssh-ed25519", Key: "AAAAC3Nza", Options: []string{"no-pty", `from="10.0.0.0/8"`}},
			before: sp(existing),
			msgs: []string{"type: type changed 'ssh-rsa' to 'ssh-ed25519'", "key: key changed 'AAAold' to 'AAAAC3Nza'",
				`options: options changed ['from="x"'] to ['no-pty', 'from="10.0.0.0/8"']`},
			after: "# keys\nno-pty,from=\"10.0.0.0/8\" ssh-ed25519 AAAAC3Nza alice@laptop\nssh-rsa AAAB3 bob@x\nssh-rsa AAAgone gone@x\n"},
		{name: "options added", k: SSHAuthorizedKey{Name: "bob@x", Options: []string{"no-pty"}}, before: sp(existing),
			msgs:  []string{"options: options changed ['absent'] to ['no-pty']"},
			after: "# keys\nfrom=\"x\" ssh-rsa AAAold alice@laptop\nno-pty ssh-rsa AAAB3 bob@x\nssh-rsa AAAgone gone@x\n"},
		{name: "options removed", k: SSHAuthorizedKey{Name: "alice@laptop"}, before: sp(existing),
			msgs:  []string{`options: undefined 'options' from ['from="x"']`},
			after: "# keys\nssh-rsa AAAold alice@laptop\nssh-rsa AAAB3 bob@x\nssh-rsa AAAgone gone@x\n"},
		{name: "sensitive key", k: SSHAuthorizedKey{Name: "bob@x", Key: "AAAnew", Sensitive: map[string]bool{"key": true}}, before: sp(existing),
			msgs:  []string{"key: changed [redacted] to [redacted]"},
			after: "# keys\nfrom=\"x\" ssh-rsa AAAold alice@laptop\nssh-rsa AAAnew bob@x\nssh-rsa AAAgone gone@x\n"},
		{name: "absent", k: SSHAuthorizedKey{Name: "gone@x", Absent: true}, before: sp(existing),
			msgs: []string{"ensure: removed"}, after: "# keys\nfrom=\"x\" ssh-rsa AAAold alice@laptop\nssh-rsa AAAB3 bob@x\n"},
		{name: "absent already", k: SSHAuthorizedKey{Name: "nobody@x", Absent: true}, before: sp(existing), after: existing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.k
			k.User, k.DropPrivileges = "root", true
			ok, msgs, after, err := runKey(t, k, tc.before, true)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (len(tc.msgs) == 0) || strings.Join(msgs, "|") != strings.Join(tc.msgs, "|") {
				t.Errorf("ok %v, messages %q; want %q", ok, msgs, tc.msgs)
			}
			if after != tc.after {
				t.Errorf("file:\n%q\nwant\n%q", after, tc.after)
			}
		})
	}
}

// TestSSHKeyFailures: Puppet's flush needs the user; an unparseable line fails
// the whole file (line numbers counted from 2, as Puppet does).
func TestSSHKeyFailures(t *testing.T) {
	// The user does not exist and there is no target: ensure is created, the
	// write fails. In noop only the change is told.
	k := SSHAuthorizedKey{Name: "bob@nowhere", User: "nosuchuser-mgmt-puppet", Type: "ssh-rsa", Key: "AAAA"}
	ok, msgs, _, err := runKey(t, k, nil, true)
	if ok || strings.Join(msgs, "|") != "ensure: created" || err == nil || err.Error() != "User 'nosuchuser-mgmt-puppet' does not exist" {
		t.Errorf("missing user: %v %q %v", ok, msgs, err)
	}
	if ok, msgs, _, err = runKey(t, k, nil, false); ok || err != nil || len(msgs) != 1 {
		t.Errorf("missing user, noop: %v %q %v", ok, msgs, err)
	}
	// With a target it reads the file; in sync needs no user.
	k.Target = "-"
	if ok, _, _, err = runKey(t, k, sp("ssh-rsa AAAA bob@nowhere\n"), true); !ok || err != nil {
		t.Errorf("missing user, in sync: %v %v", ok, err)
	}
	k.User = ""
	if _, _, _, err = runKey(t, k, sp("ssh-rsa BBBB bob@nowhere\n"), true); err == nil || err.Error() != "Cannot write SSH authorized keys without user" {
		t.Errorf("no user: %v", err)
	}
	k.User = "root"
	_, _, after, err := runKey(t, k, sp("# x\nssh-rsa AAAA a@b\ngarbage\n"), true)
	if err == nil || !strings.HasPrefix(err.Error(), `Could not prefetch ssh_authorized_key provider 'parsed': Could not parse line "garbage" (file: `) ||
		!strings.HasSuffix(err.Error(), "line: 4)") || after != "# x\nssh-rsa AAAA a@b\ngarbage\n" {
		t.Errorf("garbage: %v, file %q", err, after)
	}
}

// TestSSHKeyModes: the missing directory is made 0700, the file is 0600, even an
// existing one, as the provider's flush does.
func TestSSHKeyModes(t *testing.T) {
	dir := t.TempDir()
	k := &SSHAuthorizedKey{Name: "a@b", User: "root", Type: "ssh-rsa", Key: "AAAA", DropPrivileges: true,
		Target: filepath.Join(dir, ".ssh", "authorized_keys")}
	_ = k.Init(newFileHandle())
	if _, err := k.CheckApply(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{filepath.Join(dir, ".ssh"): 0o700, k.Target: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	if err := os.Chmod(k.Target, 0o644); err != nil {
		t.Fatal(err)
	}
	k.Key = "BBBB"
	if _, err := k.CheckApply(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(k.Target); fi.Mode().Perm() != 0o600 {
		t.Errorf("existing file: %v, want 0600", fi.Mode().Perm())
	}
	k = &SSHAuthorizedKey{Name: "a@b", User: "root", Type: "ssh-rsa", Key: "AAAA", DropPrivileges: true,
		Target: filepath.Join(dir, "no", "such", "authorized_keys")}
	_ = k.Init(newFileHandle())
	if _, err := k.CheckApply(t.Context(), true); err == nil {
		t.Error("a missing grandparent directory must fail, as Dir.mkdir does")
	}
}

// TestSSHKeyTimeline: drift of the key line and of the file is repaired by events.
func TestSSHKeyTimeline(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := startWatcher(t, ctx)
	defer w.Close()

	target := filepath.Join(t.TempDir(), "ssh", "authorized_keys")
	k := &SSHAuthorizedKey{Name: "a@b", User: "root", Type: "ssh-ed25519", Key: "AAAA", Options: []string{"no-pty"},
		DropPrivileges: true, Target: target, pathWatch: pathWatch{watcher: w}}
	hd := newFileHandle()
	_ = k.Init(hd)
	if err := k.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	repairKey := func(want ...string) {
		t.Helper()
		ok, err := k.CheckApply(ctx, true)
		if ok || err != nil {
			t.Fatalf("repair: ok %v err %v", ok, err)
		}
		var got []string
		for _, c := range hd.take() {
			got = append(got, c.Property)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("repair changed %v, want %v", got, want)
		}
		if ok, err := k.CheckApply(ctx, true); !ok || err != nil {
			t.Fatalf("after repair: ok %v err %v %v", ok, err, hd.take())
		}
	}
	repairKey("ensure")
	write := func(s string) func() error {
		return func() error { return os.WriteFile(target, []byte(s), 0o600) }
	}
	expectPoke(t, hd, "key edited", write("no-pty ssh-ed25519 BBBB a@b\n"))
	repairKey("key")
	expectPoke(t, hd, "options dropped", write("ssh-ed25519 AAAA a@b\n"))
	repairKey("options")
	expectPoke(t, hd, "line deleted", write("# nothing\n"))
	repairKey("ensure")
	expectPoke(t, hd, "file removed", func() error { return os.Remove(target) })
	repairKey("ensure")
	if lines, _ := readRecordLines(target); strings.Join(lines, "\n") != "no-pty ssh-ed25519 AAAA a@b" {
		t.Errorf("after the file was removed: %q", lines)
	}
	time.Sleep(20 * time.Millisecond)
	k.Close()
	if s := w.Stats(); s.Paths != 0 {
		t.Errorf("watcher still holds %+v", s)
	}
}
