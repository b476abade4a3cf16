package resources

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// debianHosts is /etc/hosts as Debian installs it, with an unparseable line.
const debianHosts = "127.0.0.1\tlocalhost\n" +
	"127.0.1.1\tbox.example.org\tbox\n" +
	"\n" +
	"# The following lines are desirable for IPv6 capable hosts\n" +
	"::1     localhost ip6-localhost ip6-loopback\n" +
	"ff02::1 ip6-allnodes\n" +
	"ff02::2 ip6-allrouters\n" +
	"  10.9.9.9 indented.example\n" +
	"10.0.0.1  spaced.example   a    b   #   note  \n"

// debianHostsAsPuppet is how Puppet writes it back: records from their fields,
// everything else as it was.
const debianHostsAsPuppet = "127.0.0.1\tlocalhost\n" +
	"127.0.1.1\tbox.example.org\tbox\n" +
	"\n" +
	"# The following lines are desirable for IPv6 capable hosts\n" +
	"::1\tlocalhost\tip6-localhost ip6-loopback\n" +
	"ff02::1\tip6-allnodes\n" +
	"ff02::2\tip6-allrouters\n" +
	"  10.9.9.9 indented.example\n" +
	"10.0.0.1\tspaced.example\ta b\t# note  \n"

func TestHostRoundTrip(t *testing.T) {
	for _, in := range []string{debianHosts, debianHostsAsPuppet} {
		lines := strings.Split(strings.TrimSuffix(in, "\n"), "\n")
		var out []string
		for _, l := range lines {
			s, err := parseHostLine(l).line()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if got := strings.Join(out, "\n") + "\n"; got != debianHostsAsPuppet {
			t.Errorf("round trip:\n%s\nwant\n%s", got, debianHostsAsPuppet)
		}
	}
	r := parseHostLine("10.0.0.1  spaced.example   a    b   #   note  ")
	if r.ip != "10.0.0.1" || r.name != "spaced.example" || *r.aliases != "a b" || r.comment != "note  " {
		t.Errorf("parsed %+v", r)
	}
}

func sp(s string) *string      { return &s }
func lp(l ...string) *[]string { return &l }

// runHost applies h (apply or noop) to a target holding before (nil: no file)
// and returns the messages and the file's content without its header.
func runHost(t *testing.T, h Host, before *string, apply bool) (bool, []string, string, error) {
	t.Helper()
	dir := t.TempDir()
	h.Target = filepath.Join(dir, "hosts")
	if before != nil {
		if err := os.WriteFile(h.Target, []byte(*before), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	hd := newFileHandle()
	h.now = fixedNow
	_ = h.Init(hd)
	ok, err := h.CheckApply(t.Context(), apply)
	var msgs []string
	for _, c := range hd.take() {
		msgs = append(msgs, c.Property+": "+c.Message)
	}
	data, _ := os.ReadFile(h.Target)
	return ok, msgs, strings.TrimPrefix(string(data), fixedHeader), err
}

// TestHostCheckApply: each case starts from a file, applies one host and checks the
// messages (as Puppet 7 prints them, observed with host_core) and the file.
func TestHostCheckApply(t *testing.T) {
	existing := "# mine\n10.0.0.5   db.example  db\n10.0.0.6 cache.example c1 c2 # old comment\n10.0.0.8 noal.example al1\n"
	for _, tc := range []struct {
		name   string
		h      Host
		before *string
		msgs   []string
		after  string
	}{
		{name: "create in a new file", h: Host{Name: "db.example", IP: sp("10.0.0.5"), Aliases: lp("db", "database"), Comment: sp("the db")},
			msgs: []string{"ensure: created"}, after: "10.0.0.5\tdb.example\tdb database\t# the db\n"},
		{name: "create appends", h: Host{Name: "new.example", IP: sp("fe80::1")}, before: sp(debianHosts),
			msgs: []string{"ensure: created"}, after: debianHostsAsPuppet + "fe80::1\tnew.example\n"},
		{name: "in sync", h: Host{Name: "db.example", IP: sp("10.0.0.5"), Aliases: lp("db")}, before: sp(existing),
			after: existing},
		{name: "ip", h: Host{Name: "db.example", IP: sp("10.0.0.9")}, before: sp(existing),
			msgs:  []string{"ip: ip changed '10.0.0.5' to '10.0.0.9'"},
			after: "# mine\n10.0.0.9\tdb.example\tdb\n10.0.0.6\tcache.example\tc1 c2\t# old comment\n10.0.0.8\tnoal.example\tal1\n"},
		{name: "aliases and comment", h: Host{Name: "db.example", IP: sp("10.0.0.5"), Aliases: lp("db", "database"), Comment: sp("the db")},
			before: sp(existing),
			msgs:   []string{"host_aliases: host_aliases changed db to 'db database'", "comment: comment changed '' to 'the db'"},
			after:  "# mine\n10.0.0.5\tdb.example\tdb database\t# the db\n10.0.0.6\tcache.example\tc1 c2\t# old comment\n10.0.0.8\tnoal.example\tal1\n"},
		{name: "fewer aliases, no comment", h: Host{Name: "cache.example", Aliases: lp("c2"), Comment: sp("")}, before: sp(existing),
			msgs:  []string{"host_aliases: host_aliases changed c1 c2 to 'c2'", "comment: comment changed 'old comment' to ''"},
			after: "# mine\n10.0.0.5\tdb.example\tdb\n10.0.0.6\tcache.example\tc2\n10.0.0.8\tnoal.example\tal1\n"},
		{name: "aliases emptied leave a tab", h: Host{Name: "noal.example", Aliases: lp()}, before: sp(existing),
			msgs:  []string{"host_aliases: host_aliases changed al1 to ''"},
			after: "# mine\n10.0.0.5\tdb.example\tdb\n10.0.0.6\tcache.example\tc1 c2\t# old comment\n10.0.0.8\tnoal.example\t\n"},
		{name: "aliases defined", h: Host{Name: "x.example", Aliases: lp("x")}, before: sp("10.0.0.1 x.example\n"),
			msgs: []string{"host_aliases: defined 'host_aliases' as 'x'"}, after: "10.0.0.1\tx.example\tx\n"},
		{name: "no aliases wanted, none there", h: Host{Name: "x.example", Aliases: lp()}, before: sp("10.0.0.1 x.example\n"),
			after: "10.0.0.1 x.example\n"},
		{name: "absent", h: Host{Name: "cache.example", Absent: true}, before: sp(existing),
			msgs:  []string{"ensure: removed"},
			after: "# mine\n10.0.0.5\tdb.example\tdb\n10.0.0.8\tnoal.example\tal1\n"},
		{name: "absent already", h: Host{Name: "gone.example", Absent: true}, before: sp(existing), after: existing},
		{name: "absent, no file", h: Host{Name: "gone.example", Absent: true}},
		{name: "last duplicate wins", h: Host{Name: "d.example", IP: sp("10.0.0.3")}, before: sp("10.0.0.1 d.example\n10.0.0.2 d.example\n"),
			msgs: []string{"ip: ip changed '10.0.0.2' to '10.0.0.3'"}, after: "10.0.0.1\td.example\n10.0.0.3\td.example\n"},
		{name: "header added to a file without one, old one replaced", h: Host{Name: "n.example", IP: sp("10.0.0.1")},
			before: sp("# HEADER: This file was autogenerated at 2001-01-01 00:00:00 +0000\n# keep\n"),
			msgs:   []string{"ensure: created"}, after: "# keep\n10.0.0.1\tn.example\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, msgs, after, err := runHost(t, tc.h, tc.before, true)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (len(tc.msgs) == 0) || strings.Join(msgs, "|") != strings.Join(tc.msgs, "|") {
				t.Errorf("ok %v, messages %q; want %q", ok, msgs, tc.msgs)
			}
			if after != tc.after {
				t.Errorf("file:\n%q\nwant\n%q", after, tc.after)
			}
			if tc.msgs == nil && tc.before != nil && !strings.HasPrefix(*tc.before, "# HEADER") && after != *tc.before {
				t.Error("rewritten although in sync")
			}
		})
	}
}

// TestHostNoop: nothing is written; the list property prints what it found bare.
func TestHostNoop(t *testing.T) {
	before := "10.0.0.5 db.example db\n"
	ok, msgs, after, err := runHost(t, Host{Name: "db.example", IP: sp("10.0.0.9"), Aliases: lp("db", "database")}, &before, false)
	want := []string{"ip: current_value '10.0.0.5', should be '10.0.0.9' (noop)",
		"host_aliases: current_value db, should be 'db database' (noop)"}
	if ok || err != nil || strings.Join(msgs, "|") != strings.Join(want, "|") || after != before {
		t.Errorf("ok %v err %v messages %q file %q", ok, err, msgs, after)
	}
	ok, msgs, _, _ = runHost(t, Host{Name: "db.example", IP: sp("10.0.0.9")}, nil, false)
	if ok || len(msgs) != 1 || msgs[0] != "ensure: created" {
		t.Errorf("noop create: %v %q", ok, msgs)
	}
}

// TestHostModes: a new target is 0600 (Puppet copies its temporary file); an
// existing one keeps its mode. A host without ip fails when written.
func TestHostModes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file string
		pre  os.FileMode
		want os.FileMode
	}{{"new", 0, 0o600}, {"existing", 0o644, 0o644}, {"group", 0o640, 0o640}} {
		h := &Host{Name: "a.example", IP: sp("10.0.0.1"), Target: filepath.Join(dir, tc.file)}
		if tc.pre != 0 {
			if err := os.WriteFile(h.Target, nil, tc.pre); err != nil {
				t.Fatal(err)
			}
		}
		_ = h.Init(newFileHandle())
		if _, err := h.CheckApply(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(h.Target); fi.Mode().Perm() != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.file, fi.Mode().Perm(), tc.want)
		}
	}
	h := &Host{Name: "noip.example", Target: filepath.Join(dir, "noip")}
	_ = h.Init(newFileHandle())
	if _, err := h.CheckApply(t.Context(), true); err == nil || err.Error() != "ip is a required attribute for hosts" {
		t.Errorf("no ip: %v", err)
	}
	h = &Host{Name: "a.example", IP: sp("10.0.0.1"), Target: filepath.Join(dir, "missing", "hosts")}
	_ = h.Init(newFileHandle())
	if _, err := h.CheckApply(t.Context(), true); err == nil || !strings.Contains(err.Error(), "could not write") {
		t.Errorf("missing directory: %v", err)
	}
}

// TestHostSharedTarget: many hosts writing one file at once lose nobody's record.
func TestHostSharedTarget(t *testing.T) {
	target := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(target, []byte("127.0.0.1\tlocalhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := &Host{Name: fmt.Sprintf("h%d.example", i), IP: sp(fmt.Sprintf("10.0.1.%d", i)), Target: target}
			_ = h.Init(newFileHandle())
			if _, err := h.CheckApply(context.Background(), true); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	lines, err := readRecordLines(target)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	if len(lines) != n+1 {
		t.Fatalf("%d lines, want %d: %q", len(lines), n+1, lines)
	}
	for i := range n {
		h := &Host{Name: fmt.Sprintf("h%d.example", i), IP: sp(fmt.Sprintf("10.0.1.%d", i)), Target: target}
		_ = h.Init(newFileHandle())
		if ok, err := h.CheckApply(t.Context(), false); !ok || err != nil {
			t.Errorf("%s: ok %v err %v", h.Name, ok, err)
		}
	}
}

// TestHostTimeline: the host is created, then its record is edited, deleted, and
// the file removed; each drift pokes within a second and the next CheckApply
// repairs it, keeping the other lines.
func TestHostTimeline(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := startWatcher(t, ctx)
	defer w.Close()

	target := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(target, []byte("127.0.0.1\tlocalhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &Host{Name: "db.example", IP: sp("10.0.0.5"), Aliases: lp("db"), Target: target, pathWatch: pathWatch{watcher: w}}
	hd := newFileHandle()
	_ = h.Init(hd)
	if err := h.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	repairHost := func(want ...string) {
		t.Helper()
		ok, err := h.CheckApply(ctx, true)
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
		if ok, err := h.CheckApply(ctx, true); !ok || err != nil {
			t.Fatalf("after repair: ok %v err %v %v", ok, err, hd.take())
		}
		lines, _ := readRecordLines(target)
		if len(lines) == 0 || lines[0] != "127.0.0.1\tlocalhost" && len(lines) != 1 {
			t.Errorf("lines after repair: %q", lines)
		}
	}
	repairHost("ensure")
	edit := func(from, to string) func() error {
		return func() error {
			data, err := os.ReadFile(target)
			if err != nil {
				return err
			}
			return os.WriteFile(target, []byte(strings.Replace(string(data), from, to, 1)), 0o644)
		}
	}
	expectPoke(t, hd, "ip edited", edit("10.0.0.5", "10.0.0.7"))
	repairHost("ip")
	expectPoke(t, hd, "alias edited", edit("\tdb\n", "\tdb other\n"))
	repairHost("host_aliases")
	expectPoke(t, hd, "record deleted", edit("10.0.0.5\tdb.example\tdb\n", ""))
	repairHost("ensure")
	expectPoke(t, hd, "file removed", func() error { return os.Remove(target) })
	repairHost("ensure")
	if lines, _ := readRecordLines(target); len(lines) != 1 || lines[0] != "10.0.0.5\tdb.example\tdb" {
		t.Errorf("after the file was removed: %q", lines)
	}

	time.Sleep(20 * time.Millisecond)
	h.Close()
	if s := w.Stats(); s.Paths != 0 {
		t.Errorf("watcher still holds %+v", s)
	}
}
