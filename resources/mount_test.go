package resources

import (
	"context"
	"errors"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestFstabRoundTrip(t *testing.T) {
	for _, tc := range []struct{ in, out, name string }{
		{"# comment", "# comment", ""},
		{"  # indented", "  # indented", ""},
		{"", "", ""},
		{"incomplete", "incomplete", ""},
		{"tmpfs   /mnt/x   tmpfs   ro   0   1", "tmpfs\t/mnt/x\ttmpfs\tro\t0\t1", "/mnt/x"},
		{"/dev/x /y", "/dev/x\t/y\t\t\t\t", "/y"},
		{"my\\040dev /mnt/a\\040b/// tmpfs defaults 0 0", "my\\040dev\t/mnt/a\\040b\ttmpfs\tdefaults\t0\t0", "/mnt/a b"},
		{"a /b c d 0 0 extra more", "a\t/b\tc\td\t0\t0\textra\tmore", "/b"},
		{"/ // ext4 defaults 0 1", "/\t/\text4\tdefaults\t0\t1", "/"},
	} {
		r := parseFstabLine(tc.in)
		got, err := r.line()
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got != tc.out {
			t.Errorf("%q: written as %q, want %q", tc.in, got, tc.out)
		}
		if name := strOr(r.fields[fsName]); r.record && name != tc.name {
			t.Errorf("%q: name %q, want %q", tc.in, name, tc.name)
		}
	}
	// A leading blank makes the device absent, as Ruby's split does; such a line
	// cannot be written back.
	if _, err := parseFstabLine("  tmpfs /x").line(); err == nil || err.Error() != "Field 'device' is required" {
		t.Errorf("leading blank: %v", err)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/a\011b\134`: "/a\tb\\", `/x\04`: `/x\04`, "/plain": "/plain"} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// fakeMounts is a mount table the fake mount and umount commands change.
type fakeMounts struct {
	table map[string]bool
	calls []string
	fail  string // a command line that fails
}

func (f *fakeMounts) run(ctx context.Context, name string, args ...string) error {
	line := strings.Join(append([]string{name}, args...), " ")
	f.calls = append(f.calls, line)
	if line == f.fail {
		return errors.New("Execution of '/usr/bin/" + line + "' returned 32: mount: failed")
	}
	target := args[len(args)-1]
	switch {
	case name == "umount":
		delete(f.table, target)
	case len(args) == 1:
		f.table[target] = true
	}
	return nil
}

func vp(s string, num bool) *MountValue { return &MountValue{Text: s, Number: num} }

// TestMountCheckApply: each case starts from an fstab and a mount table, applies one
// mount and checks the messages and log lines (as Puppet 7 with mount_core prints
// them, observed), the commands run and the fstab written.
func TestMountCheckApply(t *testing.T) {
	defer goleak.VerifyNone(t)
	const x = "/mnt/x"
	existing := "# kept\ntmpfs /mnt/x tmpfs size=1m 0 0\n"
	full := func(m Mount) Mount {
		m.Name = x
		if m.Device == nil {
			m.Device = sp("tmpfs")
		}
		if m.Fstype == nil {
			m.Fstype = sp("tmpfs")
		}
		m.Dump, m.Pass, m.Remounts = vp("0", true), vp("0", true), true
		return m
	}
	for _, tc := range []struct {
		name    string
		m       Mount
		before  string
		mounted bool
		due     bool
		noop    bool
		fail    string
		msgs    []string
		logs    []string
		calls   []string
		after   string // "" means unchanged
		err     string
	}{
		{name: "mounted from nothing", m: full(Mount{Ensure: "mounted", Options: sp("size=1m")}),
			msgs:  []string{"ensure: defined 'ensure' as 'mounted'"},
			logs:  []string{"Info: Remounting", "Notice: Triggered 'refresh' from 1 event"},
			calls: []string{"mount /mnt/x", "mount -o remount /mnt/x"},
			after: "tmpfs\t/mnt/x\ttmpfs\tsize=1m\t0\t0\n"},
		{name: "mounted from nothing, notified", m: full(Mount{Ensure: "mounted", Options: sp("size=1m")}), due: true,
			msgs:  []string{"ensure: defined 'ensure' as 'mounted'"},
			logs:  []string{"Info: Remounting", "Notice: Triggered 'refresh' from 2 events"},
			calls: []string{"mount /mnt/x", "mount -o remount /mnt/x"},
			after: "tmpfs\t/mnt/x\ttmpfs\tsize=1m\t0\t0\n"},
		{name: "in sync", m: full(Mount{Ensure: "mounted", Options: sp("size=1m")}), before: existing, mounted: true},
		{name: "defined in sync when mounted", m: full(Mount{Ensure: "defined"}), before: existing, mounted: true},
		{name: "unmounted by hand", m: full(Mount{Ensure: "mounted"}), before: existing,
			msgs:  []string{"ensure: ensure changed 'unmounted' to 'mounted'"},
			logs:  []string{"Info: Remounting", "Notice: Triggered 'refresh' from 1 event"},
			calls: []string{"mount /mnt/x", "mount -o remount /mnt/x"}},
		{name: "ghost", m: full(Mount{Ensure: "mounted"}), mounted: true,
			msgs:  []string{"ensure: ensure changed 'ghost' to 'mounted'"},
			logs:  []string{"Info: Remounting", "Notice: Triggered 'refresh' from 1 event"},
			calls: []string{"mount -o remount /mnt/x"},
			after: "tmpfs\t/mnt/x\ttmpfs\tdefaults\t0\t0\n"},
		{name: "options and pass edited, mounted, no remounts", m: full(Mount{Ensure: "mounted", Options: sp("size=2m"), Pass: vp("2", true)}),
			before: existing, mounted: true,
			msgs:  []string{"options: options changed 'size=1m' to 'size=2m'"},
			logs:  []string{"Info: Remounting", "Notice: Triggered 'refresh' from 1 event"},
			calls: []string{"mount -o remount /mnt/x"},
			after: "# kept\ntmpfs\t/mnt/x\ttmpfs\tsize=2m\t0\t0\n"},
		{name: "pass then dump, unmounted", m: Mount{Name: x, Ensure: "defined", Pass: vp("2", true), Dump: vp("1", false)},
			before: existing,
			msgs:   []string{"pass: pass changed '0' to 2", "dump: dump changed '0' to '1'"},
			logs:   []string{"Notice: Triggered 'refresh' from 2 events"},
			after:  "# kept\ntmpfs\t/mnt/x\ttmpfs\tsize=1m\t1\t2\n"},
		{name: "unmount keeps the entry and syncs silently", m: full(Mount{Ensure: "unmounted", Options: sp("ro")}), before: existing, mounted: true,
			msgs:  []string{"ensure: ensure changed 'mounted' to 'unmounted'"},
			logs:  []string{"Notice: Triggered 'refresh' from 1 event"},
			calls: []string{"umount /mnt/x"},
			after: "# kept\ntmpfs\t/mnt/x\ttmpfs\tro\t0\t0\n"},
		{name: "unmounted from ghost", m: full(Mount{Ensure: "unmounted"}), mounted: true,
			msgs:  []string{"ensure: ensure changed 'ghost' to 'unmounted'"},
			logs:  []string{"Notice: Triggered 'refresh' from 1 event"},
			calls: []string{"umount /mnt/x"},
			after: "tmpfs\t/mnt/x\ttmpfs\tdefaults\t0\t0\n"},
		{name: "defined", m: full(Mount{Ensure: "defined"}), before: "# kept\n",
			msgs:  []string{"ensure: defined 'ensure' as 'defined'"},
			logs:  []string{"Notice: Triggered 'refresh' from 1 event"},
			after: "# kept\ntmpfs\t/mnt/x\ttmpfs\tdefaults\t0\t0\n"},
		{name: "absent, mounted", m: Mount{Name: x, Ensure: "absent"}, before: existing, mounted: true,
			msgs:  []string{"ensure: undefined 'ensure' from 'mounted'"},
			calls: []string{"umount /mnt/x"},
			after: "# kept\n"},
		{name: "absent, ghost", m: Mount{Name: x, Ensure: "absent"}, mounted: true,
			msgs: []string{"ensure: undefined 'ensure' from 'ghost'"}, calls: []string{"umount /mnt/x"}},
		{name: "absent, nothing", m: Mount{Name: x, Ensure: "absent"}, before: "# kept\n"},
		{name: "remounts false", m: full(Mount{Ensure: "mounted", Options: sp("ro")}), before: existing, mounted: true,
			msgs:  []string{"options: options changed 'size=1m' to 'ro'"},
			logs:  []string{"Info: Remounting", "Notice: Triggered 'refresh' from 1 event"},
			calls: []string{"umount /mnt/x", "mount /mnt/x"},
			after: "# kept\ntmpfs\t/mnt/x\ttmpfs\tro\t0\t0\n"},
		{name: "noop", m: full(Mount{Ensure: "mounted"}), before: existing, noop: true,
			msgs: []string{"ensure: current_value 'unmounted', should be 'mounted' (noop)"},
			logs: []string{"Notice: Would have triggered 'refresh' from 1 event"}},
		{name: "fstype required", m: Mount{Name: x, Ensure: "defined", Device: sp("tmpfs")},
			msgs: []string{"ensure: defined 'ensure' as 'defined'"}, err: "Mount[/mnt/x]: Field 'fstype' is required"},
		{name: "mount fails", m: full(Mount{Ensure: "mounted"}), before: existing, fail: "mount /mnt/x",
			msgs:  []string{"ensure: ensure changed 'unmounted' to 'mounted'"},
			calls: []string{"mount /mnt/x"},
			err:   "Execution of '/usr/bin/mount /mnt/x' returned 32: mount: failed"},
		{name: "remount fails", m: full(Mount{Ensure: "mounted"}), before: existing, fail: "mount -o remount /mnt/x",
			msgs: []string{"ensure: ensure changed 'unmounted' to 'mounted'"},
			logs: []string{"Info: Remounting",
				"Error: Failed to call refresh: Execution of '/usr/bin/mount -o remount /mnt/x' returned 32: mount: failed",
				"Error: Execution of '/usr/bin/mount -o remount /mnt/x' returned 32: mount: failed"},
			calls: []string{"mount /mnt/x", "mount -o remount /mnt/x"},
			err:   "Execution of '/usr/bin/mount -o remount /mnt/x' returned 32: mount: failed"},
		{name: "swap is not remounted", m: Mount{Name: x, Ensure: "mounted", Fstype: sp("swap"), Options: sp("pri=1")}, mounted: true,
			before: "/dev/sdb1 /mnt/x swap sw 0 0\n",
			msgs:   []string{"options: options changed 'sw' to 'pri=1'"},
			logs:   []string{"Notice: Triggered 'refresh' from 1 event"},
			after:  "/dev/sdb1\t/mnt/x\tswap\tpri=1\t0\t0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			if tc.name == "remounts false" {
				m.Remounts = false
			}
			m.Target = filepath.Join(t.TempDir(), "fstab")
			if tc.before != "" {
				if err := os.WriteFile(m.Target, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			fm := &fakeMounts{table: map[string]bool{"/": true}, fail: tc.fail}
			if tc.mounted {
				fm.table[x] = true
			}
			m.run, m.mounted, m.now = fm.run, func() (map[string]bool, error) { return fm.table, nil }, fixedNow
			hd := newFileHandle()
			_ = m.Init(hd)
			ok, err := m.CheckApply(t.Context(), !tc.noop)
			var msgs []string
			for _, c := range hd.take() {
				msgs = append(msgs, c.Property+": "+c.Message)
			}
			// What the engine does next: the mount's own events (SelfRefresh) and
			// one from a notifier (due) refresh it once; logged as Puppet orders it.
			if events := btoi(tc.due); err == nil {
				if m.SelfRefresh() {
					events += len(msgs)
				}
				switch {
				case events > 0 && tc.noop:
					hd.Logf(engine.Notice, "Would have triggered 'refresh' from %d %s", events, plural(events))
				case events > 0:
					if rerr := m.Refresh(t.Context(), true); rerr != nil {
						hd.Logf(engine.Err, "Failed to call refresh: %v", rerr)
						hd.Logf(engine.Err, "%v", rerr)
						err = rerr
					} else {
						hd.Logf(engine.Notice, "Triggered 'refresh' from %d %s", events, plural(events))
					}
				}
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if wantOK := tc.msgs == nil; ok != wantOK && err == nil {
				t.Errorf("ok %v, want %v", ok, wantOK)
			}
			if !reflect.DeepEqual(msgs, tc.msgs) {
				t.Errorf("messages\n%q\nwant\n%q", msgs, tc.msgs)
			}
			if !reflect.DeepEqual(hd.logs, tc.logs) {
				t.Errorf("logs\n%q\nwant\n%q", hd.logs, tc.logs)
			}
			if !reflect.DeepEqual(fm.calls, tc.calls) {
				t.Errorf("commands\n%q\nwant\n%q", fm.calls, tc.calls)
			}
			data, _ := os.ReadFile(m.Target)
			got := strings.TrimPrefix(string(data), fixedHeader)
			want := tc.after
			if want == "" {
				want = tc.before
			}
			if got != want {
				t.Errorf("fstab\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func plural(n int) string {
	if n == 1 {
		return "event"
	}
	return "events"
}

// TestMountRefresh: a refresh from other resources remounts a mounted mount only.
func TestMountRefresh(t *testing.T) {
	for _, mounted := range []bool{true, false} {
		fm := &fakeMounts{table: map[string]bool{"/mnt/x": mounted}}
		m := Mount{Name: "/mnt/x", Remounts: true, run: fm.run, mounted: func() (map[string]bool, error) { return fm.table, nil }}
		_ = m.Init(newFileHandle())
		if err := m.Refresh(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		if want := mounted; (len(fm.calls) == 1) != want {
			t.Errorf("mounted %v: commands %q", mounted, fm.calls)
		}
	}
}

func TestMountValidate(t *testing.T) {
	for _, tc := range []struct {
		m    Mount
		want []string
	}{
		{Mount{Ensure: "mounted", Fstype: sp("tmpfs"), Options: sp("ro"), Dump: vp("10", true)}, nil},
		{Mount{Ensure: "bogus"}, []string{`parameter ensure: Invalid value "bogus". Valid values are defined, unmounted, absent, mounted.`}},
		{Mount{Fstype: sp("a b")}, []string{"parameter fstype: fstype must not contain whitespace: a b"}},
		{Mount{Fstype: sp("")}, []string{"parameter fstype: fstype must not be an empty string"}},
		{Mount{Options: sp("a\tb")}, []string{"parameter options: options must not contain whitespace: a\tb"}},
		{Mount{Options: sp("")}, []string{"parameter options: options must not be an empty string"}},
		{Mount{Dump: vp("2", true)}, []string{"parameter dump: Invalid value 2. Valid values match /(0|1)/."}},
		{Mount{Dump: vp("x", false)}, []string{`parameter dump: Invalid value "x". Valid values match /(0|1)/.`}},
	} {
		tc.m.Name, tc.m.Target = "/mnt/x", "/etc/fstab"
		var got []string
		if err := tc.m.Validate(); err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.m, got, tc.want)
		}
	}
}

// TestMountTableWatch: the watch of the mount table starts with its first
// subscriber and stops, goroutine and all, with its last.
func TestMountTableWatch(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := &tableWatch{path: mountinfoPath}
	cancel1, err := w.add(func() {})
	if err != nil {
		t.Fatal(err)
	}
	cancel2, err := w.add(func() {})
	if err != nil {
		t.Fatal(err)
	}
	cancel1()
	cancel1()
	if w.stop == nil {
		t.Fatal("stopped with a subscriber left")
	}
	cancel2()
	if w.stop != nil {
		t.Fatal("not stopped")
	}
	if _, err := readMountTable(mountinfoPath); err != nil {
		t.Fatal(err)
	}
	if tab, _ := readMountTable(mountinfoPath); !tab["/"] {
		t.Errorf("/ is not in the mount table: %v", tab)
	}
}
