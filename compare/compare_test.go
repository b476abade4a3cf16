package compare

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// puppetReport reads a report real Puppet wrote for a fixture catalog.
func puppetReport(t *testing.T, fixture string) State {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "fixtures", fixture, "puppet-report.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := ReadReport(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReadReport(t *testing.T) {
	s := puppetReport(t, "noopmeta")
	held := s["File[/tmp/mgmt-puppet-fixture/noopmeta/held.conf]"].Changes["ensure"]
	if held.Previous != "absent" || held.Desired != "file" || held.Status != "noop" {
		t.Errorf("held.conf ensure: %+v", held)
	}
	// Puppet writes this digest as base64; it is read back as the digest.
	content := s["File[/tmp/mgmt-puppet-fixture/noopmeta/twice.conf]"].Changes["content"]
	if !strings.HasPrefix(content.Desired, "{sha256}3c6d500b") {
		t.Errorf("twice.conf content desired %q", content.Desired)
	}
	exec := puppetReport(t, "failure")["Exec[fail]"]
	if !exec.Failed || exec.Changes["returns"].Desired != "['0']" || exec.Changes["returns"].Status != "failure" {
		t.Errorf("Exec[fail]: %+v", exec)
	}
	// A skipped resource says which failed dependency skipped it, when Puppet
	// logged one ("Dependency Exec[fail] has failures: true").
	failure := puppetReport(t, "failure")
	if got := failure["File[/tmp/mgmt-puppet-fixture/failure/after-fail]"]; !got.Skipped || !reflect.DeepEqual(got.FailedDeps, []string{"Exec[fail]"}) {
		t.Errorf("after-fail: %+v", got)
	}
	if got := failure["File[/tmp/mgmt-puppet-fixture/failure/after-after-fail]"]; !got.Skipped || got.FailedDeps != nil {
		t.Errorf("after-after-fail (behind a skipped file, no Dependency line): %+v", got)
	}
	if _, err := ReadReport(strings.NewReader("just: text\n")); err == nil {
		t.Error("no error for a file that is not a report")
	}
}

func TestDiff(t *testing.T) {
	const conf = "File[/tmp/mgmt-puppet-fixture/refresh/a.conf]"
	for _, tc := range []struct {
		name   string
		change func(State)
		want   []Difference
	}{
		{"same", func(State) {}, nil},
		{"in sync on one side", func(s State) {
			s[conf] = Resource{Changes: map[string]Change{}}
		}, []Difference{{Resource: conf, Property: "ensure",
			A: "would change 'absent' to 'file' (success)", B: "in sync"}}},
		{"other value", func(s State) {
			c := s[conf].Changes["ensure"]
			c.Desired = "link"
			s[conf].Changes["ensure"] = c
		}, []Difference{{Resource: conf, Property: "ensure",
			A: "would change 'absent' to 'file' (success)", B: "would change 'absent' to 'link' (success)"}}},
		{"failed on one side", func(s State) {
			r := s[conf]
			r.Failed = true
			s[conf] = r
		}, []Difference{{Resource: conf, A: "1 property out of sync", B: "failed"}}},
		{"missing on one side", func(s State) { delete(s, conf) },
			[]Difference{{Resource: conf, A: "1 property out of sync", B: "not in the report"}}},
		// An Anchor after a Service that failed on one side only: the skip names
		// the failure it follows from.
		{"skipped on one side", func(s State) {
			s[conf] = Resource{Skipped: true, FailedDeps: []string{"Service[x]"}, Changes: map[string]Change{}}
		}, []Difference{{Resource: conf, A: "1 property out of sync", B: "skipped (dependency Service[x] failed)"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := puppetReport(t, "refresh"), puppetReport(t, "refresh")
			tc.change(b)
			if got := Diff(a, b); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Diff:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
	// In noop, what each would print counts too: Puppet shows the version that
	// ensure => latest would install, with 'latest' as the desired value.
	const latest = "Package[sl]"
	noop := func(msg string) State {
		return State{latest: {Changes: map[string]Change{"ensure": {Previous: "1.0", Desired: "latest", Status: "noop", Message: msg}}}}
	}
	want := []Difference{{Resource: latest, Property: "ensure",
		A: `would change '1.0' to 'latest' ("current_value '1.0', should be '1.1' (noop)")`,
		B: `would change '1.0' to 'latest' ("current_value '1.0', should be 'latest' (noop)")`}}
	if got := Diff(noop("current_value '1.0', should be '1.1' (noop)"), noop("current_value '1.0', should be 'latest' (noop)")); !reflect.DeepEqual(got, want) {
		t.Errorf("noop messages:\n got %v\nwant %v", got, want)
	}
	if got := Diff(puppetReport(t, "basic"), puppetReport(t, "basic")); got != nil {
		t.Errorf("basic against itself: %v", got)
	}
	if n, out := Counts(puppetReport(t, "refresh"), puppetReport(t, "refresh")); n != 13 || out != 10 {
		t.Errorf("Counts = %d, %d; want 13, 10 (three refreshonly execs change no property)", n, out)
	}
}

func TestWithoutGenerated(t *testing.T) {
	ds := []Difference{
		{Resource: "File[/etc/apache2/mods-available/actions.conf]", A: "in sync", B: notInReport},
		{Resource: "File[/etc/apache2/mods-available/x.load]", A: "1 property out of sync", B: notInReport},
		{Resource: "File[/etc/apache2/mods-available]", A: "in sync", B: "failed"},
		{Resource: "File[/etc/apache2/mods-availablex/y]", A: "in sync", B: notInReport},
		{Resource: "File[/etc/apache2/mods-available/z]", A: notInReport, B: "in sync"},
		{Resource: "Exec[/etc/apache2/mods-available/z]", A: "in sync", B: notInReport},
	}
	got := WithoutGenerated(ds, []string{"/etc/apache2/mods-available/"})
	want := []Difference{ds[2], ds[3], ds[4], ds[5]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestRoots(t *testing.T) {
	s := State{"File[/etc/app]": {}, "Tidy[/var/log/app]": {}, "Service[app]": {}, "File[/etc/app.conf]": {}}
	if got, want := Roots(s), []string{"/etc/app", "/etc/app.conf", "/var/log/app"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Roots = %q, want %q", got, want)
	}
}
