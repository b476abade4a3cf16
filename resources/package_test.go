package resources

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

func TestPackageChangeMessages(t *testing.T) {
	for _, tc := range []struct{ is, should, want string }{
		{"purged", "present", "created"},
		{"absent", "present", "created"},
		{"purged", "1.2-1", "created"},
		{"1.2-1", "absent", "removed"},
		{"1.2-1", "purged", "purged"},
		{"absent", "purged", "purged"},
		{"1.2-1", "1.3-1", "ensure changed '1.2-1' to '1.3-1'"},
	} {
		if got := packageChange(tc.is, tc.should); got != tc.want {
			t.Errorf("%s -> %s: %q, want %q", tc.is, tc.should, got, tc.want)
		}
	}
}

// TestDpkgState reads states from a status file, and the host's real one against
// dpkg-query's answer.
func TestDpkgState(t *testing.T) {
	status := filepath.Join(t.TempDir(), "status")
	data := `Package: gone
Status: deinstall ok config-files
Version: 1.0-1

Package: here
Status: install ok installed
Architecture: amd64
Version: 2:3.4-5
Description: a
 multi-line description
 Version: not this one

Package: half
Status: install reinstreq half-installed
Version: 0.1

Package: never
Status: purge ok not-installed
`
	if err := os.WriteFile(status, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	old := dpkgStatus
	dpkgStatus = status
	defer func() { dpkgStatus = old }()
	for name, want := range map[string]string{
		"gone": "absent", "here": "2:3.4-5", "here:amd64": "2:3.4-5", "half": "absent", "never": "purged", "unknown": "purged",
	} {
		if got, err := dpkgState(name); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", name, got, err, want)
		}
	}

	dpkgStatus = old
	out, err := exec.Command("dpkg-query", "-W", "--showformat", "${Version}", "bash").Output()
	if err != nil {
		testenv.Missing(t, "dpkg-query: %v", err)
	}
	if got, err := dpkgState("bash"); err != nil || got != strings.TrimSpace(string(out)) {
		t.Errorf("bash on this host: %q %v, dpkg-query says %q", got, err, out)
	}
}

func TestPackageValidate(t *testing.T) {
	for _, p := range []Package{{Name: "Bad Name", Ensure: "present"}, {Name: "ok", Ensure: ""}, {Name: "ok", Ensure: "present", ConfigFiles: "x"}} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
	if err := (&Package{Name: "libc6:amd64", Ensure: "latest"}).Validate(); err != nil {
		t.Error(err)
	}
}

// TestPackageEnsureChange checks what a package out of sync reports, against the
// lines and report events of real Puppet 7.23's apt provider (recorded on Debian 12
// with `puppet apply` and `puppet apply --noop`): ensure => latest on a package
// that is not installed reports 'latest' without asking apt (the type's insync?
// does not look for the latest version then); on an older installed version it
// reports desired_value 'latest' and prints the version apt would install.
func TestPackageEnsureChange(t *testing.T) {
	status := filepath.Join(t.TempDir(), "status")
	data := "Package: old\nStatus: install ok installed\nVersion: 1.0-1\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0-1\n"
	if err := os.WriteFile(status, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	oldStatus, oldCandidate := dpkgStatus, aptCandidate
	defer func() { dpkgStatus, aptCandidate = oldStatus, oldCandidate }()
	dpkgStatus = status
	asked := 0
	aptCandidate = func(_ context.Context, name string) (string, error) {
		asked++
		if name == "old" {
			return "1.1-1", nil
		}
		return "", fmt.Errorf("no candidate for %s", name)
	}
	for _, tc := range []struct {
		name, ensure string
		apply        bool
		want         *engine.Change // nil: in sync
		asks         int            // apt-cache calls
	}{
		// current_value 'purged', should be 'latest' (noop); applied: ensure: created
		{"sl", "latest", false, &engine.Change{Property: "ensure", Previous: "purged", Desired: "latest", Message: "created"}, 0},
		{"gone", "latest", true, &engine.Change{Property: "ensure", Previous: "absent", Desired: "latest", Message: "created"}, 0},
		// current_value '1.0-1', should be '1.1-1' (noop), desired_value latest
		{"old", "latest", false, &engine.Change{Property: "ensure", Previous: "1.0-1", Desired: "latest",
			Message: "current_value '1.0-1', should be '1.1-1' (noop)"}, 1},
		// ensure changed '1.0-1' to '1.1-1', desired_value latest
		{"old", "latest", true, &engine.Change{Property: "ensure", Previous: "1.0-1", Desired: "latest",
			Message: "ensure changed '1.0-1' to '1.1-1'"}, 1},
		{"sl", "5.02-1+b1", false, &engine.Change{Property: "ensure", Previous: "purged", Desired: "5.02-1+b1", Message: "created"}, 0},
		{"old", "1.1-1", false, &engine.Change{Property: "ensure", Previous: "1.0-1", Desired: "1.1-1",
			Message: "ensure changed '1.0-1' to '1.1-1'"}, 0},
		{"old", "1.0-1", false, nil, 0},
		{"sl", "present", false, &engine.Change{Property: "ensure", Previous: "purged", Desired: "present", Message: "created"}, 0},
		{"old", "present", false, nil, 0},
		{"old", "absent", false, &engine.Change{Property: "ensure", Previous: "1.0-1", Desired: "absent", Message: "removed"}, 0},
	} {
		t.Run(tc.name+"/"+tc.ensure+"/apply="+fmt.Sprint(tc.apply), func(t *testing.T) {
			asked = 0
			p := &Package{Name: tc.name, Ensure: tc.ensure}
			is, err := dpkgState(p.Name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.ensureChange(context.Background(), is, tc.apply)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) || asked != tc.asks {
				t.Errorf("got %+v (apt-cache asked %d times), want %+v (%d)", got, asked, tc.want, tc.asks)
			}
		})
	}
	aptCandidate = func(context.Context, string) (string, error) { return "", fmt.Errorf("apt-cache: no") }
	if _, err := (&Package{Name: "old", Ensure: "latest"}).ensureChange(context.Background(), "1.0-1", false); err == nil ||
		err.Error() != "Could not get latest version: apt-cache: no" {
		t.Errorf("no candidate for an installed package: %v", err)
	}

	// In noop, the engine prints what CheckApply reports.
	h := &execTestHandle{}
	p := &Package{Name: "sl", Ensure: "latest", h: h}
	if ok, err := p.CheckApply(context.Background(), false); ok || err != nil || len(h.changes) != 1 || h.changes[0].Desired != "latest" {
		t.Errorf("CheckApply in noop: %v %v %+v", ok, err, h.changes)
	}
}

// TestWaitDpkgIdle: a check waits while another program holds one of dpkg's locks
// (as fcntl locks: apt and dpkg take them so), and goes on when it lets go.
func TestWaitDpkgIdle(t *testing.T) {
	dir := t.TempDir()
	old := dpkgLocks
	dpkgLocks = []string{filepath.Join(dir, "lock-frontend"), filepath.Join(dir, "lock")}
	defer func() { dpkgLocks = old }()
	for _, p := range dpkgLocks {
		if err := os.WriteFile(p, nil, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if held, _ := dpkgLockHeld(); held {
		t.Fatal("locked before anyone took a lock")
	}
	// Another open file description holds a write lock, as apt-get would.
	holder, err := os.OpenFile(dpkgLocks[1], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	lock := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(holder.Fd(), unix.F_OFD_SETLK, &lock); err != nil {
		t.Fatal(err)
	}
	if held, _ := dpkgLockHeld(); !held {
		t.Fatal("a held lock not seen")
	}
	const hold = 300 * time.Millisecond
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(hold)
		unlock := unix.Flock_t{Type: unix.F_UNLCK}
		_ = unix.FcntlFlock(holder.Fd(), unix.F_OFD_SETLK, &unlock)
	}()
	start := time.Now()
	yielded := false
	waitDpkgIdle(context.Background(), func(wait func()) { yielded = true; wait() })
	<-released
	if took := time.Since(start); took < hold || took > hold+2*time.Second {
		t.Errorf("waited %v for a lock held %v", took, hold)
	}
	if !yielded {
		t.Error("the wait did not go through yield: the check kept its slot")
	}
}

// Checks share one wait for a lock another program keeps: after dpkgBusyWait
// from the first that found it held, none waits again until it is seen free.
func TestWaitDpkgIdleShared(t *testing.T) {
	dir := t.TempDir()
	oldLocks, oldWait := dpkgLocks, dpkgBusyWait
	dpkgLocks = []string{filepath.Join(dir, "lock")}
	dpkgBusyWait = 300 * time.Millisecond
	defer func() { dpkgLocks, dpkgBusyWait = oldLocks, oldWait }()
	if err := os.WriteFile(dpkgLocks[0], nil, 0o640); err != nil {
		t.Fatal(err)
	}
	holder, err := os.OpenFile(dpkgLocks[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	setLock := func(typ int16) {
		l := unix.Flock_t{Type: typ}
		if err := unix.FcntlFlock(holder.Fd(), unix.F_OFD_SETLK, &l); err != nil {
			t.Fatal(err)
		}
	}
	timed := func() time.Duration {
		start := time.Now()
		waitDpkgIdle(context.Background(), nil)
		return time.Since(start)
	}
	setLock(unix.F_WRLCK)
	// Three checks at once, as a first pass with three packages: one wait.
	var wg sync.WaitGroup
	took := make([]time.Duration, 3)
	start := time.Now()
	for i := range took {
		wg.Add(1)
		go func() { defer wg.Done(); took[i] = timed() }()
	}
	wg.Wait()
	if all := time.Since(start); all < dpkgBusyWait || all > dpkgBusyWait+time.Second {
		t.Errorf("three checks together waited %v, want one wait of %v", all, dpkgBusyWait)
	}
	if d := timed(); d > 100*time.Millisecond {
		t.Errorf("a later check waited %v again for the same lock", d)
	}
	// A check while our own apt-get runs (failing on that lock) does not wait,
	// nor end the shared wait.
	apt.running.Store(true)
	d := timed()
	apt.running.Store(false)
	if d > 100*time.Millisecond {
		t.Errorf("waited %v while our apt-get ran", d)
	}
	if d := timed(); d > 100*time.Millisecond {
		t.Errorf("waited %v again for the same lock after our apt-get", d)
	}
	// Seen free, then held again: a new wait.
	setLock(unix.F_UNLCK)
	if d := timed(); d > 100*time.Millisecond {
		t.Errorf("waited %v with the lock free", d)
	}
	setLock(unix.F_WRLCK)
	if d := timed(); d < dpkgBusyWait {
		t.Errorf("waited %v for a lock taken again, want %v", d, dpkgBusyWait)
	}
}
