package integration

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
)

// The fault suite applies fixtures/faults on a small loop-mounted ext4 while the
// kernel's real faults happen: the disk fills up, the file system turns read-only,
// the process is killed, another process rewrites a managed file, a directory is
// swapped for a symlink. Each subtest adds a row to the table that `make faults`
// writes to docs/faults.md (FAULTS_TABLE names the file).

// faultRow is one line of the table.
type faultRow struct {
	fault, injected, lost, left, converge string
}

var faultTable struct {
	sync.Mutex
	rows []faultRow
}

func addFaultRow(r faultRow) {
	faultTable.Lock()
	defer faultTable.Unlock()
	faultTable.rows = append(faultTable.rows, r)
}

func TestFaults(t *testing.T) {
	requireFaults(t)
	t.Run("DiskFull", testFaultDiskFull)
	t.Run("ReadOnly", testFaultReadOnly)
	t.Run("Kill", testFaultKill)
	t.Run("OtherWriter", testFaultOtherWriter)
	t.Run("DirSwappedForSymlink", testFaultDirSwap)
	t.Run("FileSwappedForSymlink", testFaultFileSwap)
	if out := os.Getenv("FAULTS_TABLE"); out != "" {
		var b strings.Builder
		b.WriteString("| fault | injected | lost | left behind | converged after the fault ended |\n|---|---|---|---|---|\n")
		for _, r := range faultTable.rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.fault, r.injected, r.lost, r.left, r.converge)
		}
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// requireFaults fails in CI, and skips elsewhere, without root and the tools for
// loop-mounted file systems.
func requireFaults(t *testing.T) {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		testenv.Missing(t, "needs %s", why)
	}
	if os.Geteuid() != 0 {
		missing("root (loop devices, mounts, fanotify)")
	}
	for _, tool := range []string{"mkfs.ext4", "mount", "umount", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(tool + " (Debian packages e2fsprogs, mount)")
		}
	}
}

// loopFS makes a fresh ext4 of sizeKiB with 1 KiB blocks and mounts it, by loop
// device, on a new directory, unmounted when the test ends.
func loopFS(t *testing.T, sizeKiB int) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(sizeKiB)<<10); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "mkfs.ext4", "-q", "-F", "-b", "1024", "-N", "8192", "-m", "0", img)
	mnt := t.TempDir()
	mustRun(t, "mount", "-o", "loop", img, mnt)
	t.Cleanup(func() {
		for range 50 {
			if exec.Command("umount", mnt).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("cannot unmount %s", mnt)
	})
	return mnt
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// faultSite is the faults fixture applied at root.
type faultSite struct {
	root, base, catalog string
}

const faultFiles = 2000

// newFaultSite writes the faults catalog rooted at root; validate, when not empty,
// replaces the validate_cmd of etc/validated.conf.
func newFaultSite(t testing.TB, root, validate string) *faultSite {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "fixtures", "faults", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte(placeholder), []byte(root))
	if validate != "" {
		data = bytes.ReplaceAll(data, []byte("/bin/true VALIDATE %"), []byte(validate))
	}
	s := &faultSite{root: root, base: filepath.Join(root, "faults"), catalog: filepath.Join(t.TempDir(), "catalog.json")}
	if err := os.WriteFile(s.catalog, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *faultSite) file(i int) string { return filepath.Join(s.base, "files", "f-"+strconv.Itoa(i)) }

func newContent(i int) string { return fmt.Sprintf("new %d %01500d\n", i, 0) }
func oldContent(i int) string { return fmt.Sprintf("old %d\n", i) }

// The record files and what their old and new lines may be: every write replaces
// the whole file, so whatever a fault interrupts, each line is one of these.
var (
	oldRecords = map[string]string{
		"etc/hosts":           "10.9.9.9\told.example\n",
		"etc/fstab":           "proc\t/proc\tproc\tdefaults\t0\t0\n",
		"ssh/authorized_keys": "ssh-ed25519 AAAAOLD old@key\n",
		"etc/app.conf":        "old = 1\n",
		"etc/sites.conf":      "old site;\n",
		"etc/validated.conf":  "old validated\n",
	}
	newLines = map[string][]string{
		"etc/hosts":           {"10.0.0.5\tdb.example", "10.0.0.5\tcache.example", "10.0.0.5\tweb.example"},
		"etc/fstab":           {"tmpfs\tROOT/faults/mnt\ttmpfs\tdefaults\t0\t0"},
		"ssh/authorized_keys": {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly0000000000000000000000 alice@laptop", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly0000000000000000000000 bob@desktop"},
		"etc/app.conf":        {"port = 8080"},
	}
	wholeNew = map[string]string{
		"etc/sites.conf":     "server;\nserver;\nserver;\n",
		"etc/validated.conf": "validated\n",
	}
)

// seed gives every managed file its old content and removes everything else.
func (s *faultSite) seed(t testing.TB) {
	t.Helper()
	if err := os.RemoveAll(s.base); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"files", "etc", "ssh"} {
		if err := os.MkdirAll(filepath.Join(s.base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= faultFiles; i++ {
		if err := os.WriteFile(s.file(i), []byte(oldContent(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, c := range oldRecords {
		if err := os.WriteFile(filepath.Join(s.base, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.base, "etc", "mode.conf"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// audit checks every managed file: whole old or whole new content, never a part.
// It returns the paths that are neither (lost), how many are new, and the entries
// nobody manages (left behind).
func (s *faultSite) audit(t testing.TB) (partial []string, fresh int, left []string) {
	t.Helper()
	managed := map[string]bool{"etc/mode.conf": true}
	for i := 1; i <= faultFiles; i++ {
		rel := "files/f-" + strconv.Itoa(i)
		managed[rel] = true
		b, err := os.ReadFile(s.file(i))
		switch {
		case err != nil:
			partial = append(partial, rel+": "+err.Error())
		case string(b) == newContent(i):
			fresh++
		case string(b) != oldContent(i):
			partial = append(partial, fmt.Sprintf("%s: %.40q", rel, b))
		}
	}
	for rel, old := range oldRecords {
		managed[rel] = true
		b, err := os.ReadFile(filepath.Join(s.base, rel))
		if err != nil {
			partial = append(partial, rel+": "+err.Error())
			continue
		}
		got := string(b)
		if got == old {
			continue
		}
		if w, ok := wholeNew[rel]; ok {
			if got == w {
				fresh++
			} else {
				partial = append(partial, fmt.Sprintf("%s: %q", rel, got))
			}
			continue
		}
		// A record file: Puppet's header, the old line kept or not (File_line and
		// the parsed files keep lines they do not manage), some of the new lines.
		allowed := map[string]bool{strings.TrimSuffix(old, "\n"): true}
		for _, l := range newLines[rel] {
			allowed[strings.ReplaceAll(l, "ROOT", s.root)] = true
		}
		ok := strings.HasSuffix(got, "\n")
		for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
			ok = ok && (allowed[l] || strings.HasPrefix(l, "# HEADER"))
		}
		if !ok {
			partial = append(partial, fmt.Sprintf("%s: %q", rel, got))
		} else {
			fresh++
		}
	}
	for _, d := range []string{"files", "etc", "ssh"} {
		es, err := os.ReadDir(filepath.Join(s.base, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if rel := d + "/" + e.Name(); !managed[rel] {
				left = append(left, rel)
			}
		}
	}
	return partial, fresh, left
}

// allNew reports whether every managed file with content is new.
func (s *faultSite) allNew() bool {
	for i := 1; i <= faultFiles; i++ {
		b, err := os.ReadFile(s.file(i))
		if err != nil || string(b) != newContent(i) {
			return false
		}
	}
	for rel, w := range wholeNew {
		if b, err := os.ReadFile(filepath.Join(s.base, rel)); err != nil || string(b) != w {
			return false
		}
	}
	for rel, lines := range newLines {
		b, err := os.ReadFile(filepath.Join(s.base, rel))
		if err != nil {
			return false
		}
		for _, l := range lines {
			if !strings.Contains(string(b), strings.ReplaceAll(l, "ROOT", s.root)+"\n") {
				return false
			}
		}
	}
	return true
}

// wholeApply is how long a whole first apply from the seeded state takes here: the
// faster of two, the first on a fresh file system being slower.
func (s *faultSite) wholeApply(tb testing.TB, bin string) time.Duration {
	tb.Helper()
	whole := time.Hour
	for range 2 {
		s.seed(tb)
		start := time.Now()
		if out, err := exec.Command(bin, "run", "--color", "false", s.catalog).CombinedOutput(); err != nil {
			tb.Fatalf("first apply: %v\n%s", err, out)
		}
		whole = min(whole, time.Since(start))
	}
	return whole
}

// waitFor polls cond every 20 ms for up to limit and returns how long it took;
// false when it never held.
func waitFor(limit time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// keepConverged starts `mgmt-puppet run --converged-timeout -1` on the site, ended
// by SIGTERM when the test ends.
func (s *faultSite) keepConverged(t *testing.T) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(binary(t), "run", "--color", "false", "--converged-timeout", "-1", s.catalog)
	return cmd, startProcess(t, cmd, 30*time.Second)
}

// failedResources lists the resources whose error lines in log say why.
func failedResources(log, why string) []string {
	seen := map[string]bool{}
	re := regexp.MustCompile(`(?m)^Error: /Stage\[main\]/Main/(.*?\])(?:/[a-z_]+)?: .*` + regexp.QuoteMeta(why))
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		seen[m[1]] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func nothingOr(list []string) string {
	if len(list) == 0 {
		return "nothing"
	}
	return strings.Join(list, ", ")
}

// The disk fills up in the middle of the first apply: the files that fit are
// written, the others keep their old content with an error naming them, and once
// space returns the retries converge.
func testFaultDiskFull(t *testing.T) {
	mnt := loopFS(t, 8<<10)
	s := newFaultSite(t, mnt, "")
	s.seed(t)
	// Leave room for about a quarter of the new contents (each takes one more block
	// than the old).
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, free-600<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	_, out := s.keepConverged(t)
	if _, ok := waitFor(30*time.Second, func() bool { return strings.Contains(out.String(), "Applied catalog in") }); !ok {
		t.Fatalf("no first pass in 30 s:\n%s", out.String())
	}
	partial, fresh, left := s.audit(t)
	failed := failedResources(out.String(), "no space left on device")
	if len(partial) > 0 {
		t.Errorf("files neither old nor new with the disk full: %q", partial)
	}
	if fresh == 0 || fresh >= faultFiles {
		t.Errorf("%d files new with the disk full: want some, not all", fresh)
	}
	if len(failed) == 0 {
		t.Errorf("no error names a file that did not fit:\n%.3000s", out.String())
	}
	if len(left) > 0 {
		t.Errorf("left behind with the disk full: %q", left)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	took, ok := waitFor(60*time.Second, s.allNew)
	if !ok {
		t.Errorf("not converged 60 s after space returned")
	}
	partial2, _, left2 := s.audit(t)
	if len(partial2) > 0 || len(left2) > 0 {
		t.Errorf("after space returned: partial %q, left %q", partial2, left2)
	}
	addFaultRow(faultRow{
		fault:    "disk full (ENOSPC) during the first apply of 2000 files on an 8 MiB ext4",
		injected: fmt.Sprintf("1 (%d of %d files fit; %d resources failed with an error naming them)", fresh, faultFiles+len(oldRecords), len(failed)),
		lost:     nothingOr(append(partial, partial2...)),
		left:     nothingOr(append(left, left2...)),
		converge: seconds(took) + " after space returned",
	})
}

// The file system is read-only when the apply starts: everything fails with an
// error naming it, nothing changes, and once it is writable the retries converge.
func testFaultReadOnly(t *testing.T) {
	mnt := loopFS(t, 8<<10)
	s := newFaultSite(t, mnt, "")
	s.seed(t)
	mustRun(t, "mount", "-o", "remount,ro", mnt)
	_, out := s.keepConverged(t)
	if _, ok := waitFor(30*time.Second, func() bool { return strings.Contains(out.String(), "Applied catalog in") }); !ok {
		t.Fatalf("no first pass in 30 s:\n%s", out.String())
	}
	partial, fresh, left := s.audit(t)
	rofs := len(failedResources(out.String(), "read-only file system"))
	if len(partial) > 0 || fresh > 0 {
		t.Errorf("read-only: %d files new, partial %q; want none changed", fresh, partial)
	}
	if rofs < faultFiles {
		t.Errorf("%d resources failed with read-only file system, want every file's at least (%d)", rofs, faultFiles)
	}
	time.Sleep(2 * time.Second)
	mustRun(t, "mount", "-o", "remount,rw", mnt)
	took, ok := waitFor(60*time.Second, s.allNew)
	if !ok {
		t.Errorf("not converged 60 s after the remount")
	}
	partial2, _, left2 := s.audit(t)
	if len(partial2) > 0 || len(left2) > 0 {
		t.Errorf("after the remount: partial %q, left %q", partial2, left2)
	}
	addFaultRow(faultRow{
		fault:    "file system read-only (EROFS) for the first apply, then remounted rw",
		injected: fmt.Sprintf("1 (%d resources failed with an error naming them)", rofs),
		lost:     nothingOr(append(partial, partial2...)),
		left:     nothingOr(append(left, left2...)),
		converge: seconds(took) + " after the remount",
	})
}

// SIGKILL at random moments of the first apply: every managed file is whole, old
// or new; nothing is left beside them, and the next run converges.
func testFaultKill(t *testing.T) {
	mnt := loopFS(t, 16<<10)
	s := newFaultSite(t, mnt, "")
	const kills = 10
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("random seed %d", seed)
	// The kills fall within a whole first apply.
	whole := s.wholeApply(t, binary(t))
	var lost, left, leftAfter []string
	var checked, killedMidway int
	var converge time.Duration
	for k := range kills {
		s.seed(t)
		cmd := exec.Command(binary(t), "run", "--color", "false", s.catalog)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		at := time.Duration(float64(whole) * (0.05 + 0.9*rng.Float64()))
		time.Sleep(at)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		partial, fresh, l := s.audit(t)
		checked += faultFiles + len(oldRecords)
		if fresh > 0 && fresh < faultFiles {
			killedMidway++
		}
		lost = append(lost, partial...)
		left = append(left, l...)
		t.Logf("kill %d at %v: %d new, partial %d, left %q", k+1, at, fresh, len(partial), l)
		start := time.Now()
		if out, err := exec.Command(binary(t), "run", "--color", "false", s.catalog).CombinedOutput(); err != nil {
			t.Errorf("run after kill %d: %v\n%.2000s", k+1, err, out)
		}
		converge = max(converge, time.Since(start))
		partial, _, l = s.audit(t)
		lost = append(lost, partial...)
		leftAfter = append(leftAfter, l...)
		if !s.allNew() {
			t.Errorf("the run after kill %d did not converge", k+1)
		}
	}
	if len(lost) > 0 {
		t.Errorf("files neither whole old nor whole new after a kill: %q", lost)
	}
	// A kill between naming a replacement and renaming it leaves that hidden
	// temporary name: at most one per directory and kill, and the next start
	// removes it.
	perKill := map[string]int{}
	for _, l := range left {
		if !atomicfile.IsTemp(filepath.Base(l)) {
			t.Errorf("left behind after a kill: %s, not a temporary name of ours", l)
		}
		perKill[filepath.Dir(l)]++
	}
	for dir, n := range perKill {
		if n > kills {
			t.Errorf("%d temporary names left in %s by %d kills, want at most one per kill", n, dir, kills)
		}
	}
	if len(leftAfter) > 0 {
		t.Errorf("left behind after the next runs: %q", leftAfter)
	}
	if killedMidway == 0 {
		t.Errorf("no kill fell in the middle of the apply")
	}
	addFaultRow(faultRow{
		fault:    fmt.Sprintf("SIGKILL at a random moment of the first apply (whole apply %s)", seconds(whole)),
		injected: fmt.Sprintf("%d (%d in the middle of the files), %d files checked", kills, killedMidway, checked),
		lost:     nothingOr(lost),
		left: fmt.Sprintf("after the kills: %d hidden temporary names (a kill between naming a replacement and renaming it); after the next start: %s",
			len(left), nothingOr(leftAfter)),
		converge: "at most " + seconds(converge) + " (the next run, which removes what a kill left)",
	})
}

// cpuTime is the user and system time pid has used.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// Other programs rewrite managed files in tight loops (a File's and the hosts file
// of three Hosts): our repairs slow down instead of spinning, a warning names each
// other program, every read sees a whole content, and after they stop the files
// converge.
func testFaultOtherWriter(t *testing.T) {
	mnt := loopFS(t, 16<<10)
	s := newFaultSite(t, mnt, "")
	s.seed(t)
	cmd, out := s.keepConverged(t)
	if _, ok := waitFor(30*time.Second, s.allNew); !ok {
		t.Fatalf("not converged:\n%.3000s", out.String())
	}
	hosts := filepath.Join(s.base, "etc", "hosts")
	fights := []struct {
		path, resource, repaired, intruder string
		whole                              func(string) bool // a content either side writes
	}{
		{s.file(1), "File[" + s.file(1) + "]", "/content: content changed", "intruder",
			func(c string) bool { return c == "intruder\n" || c == newContent(1) }},
		{hosts, "Host[db.example]", "/ensure: created", "10.9.9.9\tintruder.example",
			func(c string) bool {
				for _, l := range strings.Split(strings.TrimSuffix(c, "\n"), "\n") {
					// Hosts keep the lines they do not manage: the old one and
					// the intruder's.
					if !strings.HasPrefix(l, "# HEADER") && !strings.HasPrefix(l, "10.0.0.5\t") && !strings.HasPrefix(l, "10.9.9.9\t") {
						return false
					}
				}
				return strings.HasSuffix(c, "\n")
			}},
	}
	const fight = 5 * time.Second
	cpu0, t0 := cpuTime(t, cmd.Process.Pid), time.Now()
	// The other programs: rewrite as fast as a shell can, bounded in count and time.
	var writers []*exec.Cmd
	for _, f := range fights {
		w := exec.Command("/bin/sh", "-c", `end=$(( $(date +%s) + `+strconv.Itoa(int(fight.Seconds()))+` )); i=0
while [ $i -lt 200000 ] && [ $(date +%s) -lt $end ]; do echo "$2" > "$1"; i=$((i+1)); done`, "intruder", f.path, f.intruder)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		writers = append(writers, w)
	}
	var torn []string
	reads := 0
	for time.Since(t0) < fight {
		for _, f := range fights {
			b, err := os.ReadFile(f.path)
			reads++
			// The shell truncates, then writes: an empty read is its own doing.
			// Ours are whole.
			if err == nil && len(b) > 0 && !f.whole(string(b)) {
				torn = append(torn, fmt.Sprintf("%s: %.60q", f.path, b))
			}
		}
		time.Sleep(time.Millisecond)
	}
	for _, w := range writers {
		if err := w.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	wall := time.Since(t0)
	cpu := cpuTime(t, cmd.Process.Pid) - cpu0
	took, ok := waitFor(60*time.Second, s.allNew)
	if !ok {
		t.Errorf("not converged 60 s after the other writers stopped")
	}
	var repairs []string
	named := 0
	for i, f := range fights {
		// The other program is named once the investigation (5 s) is over.
		namedRE := regexp.MustCompile(regexp.QuoteMeta(f.resource) + `: Changed by another program: pid ` +
			strconv.Itoa(writers[i].Process.Pid) + ` \(/bin/sh -c `)
		if _, ok := waitFor(15*time.Second, func() bool { return namedRE.MatchString(out.String()) }); ok {
			named++
		}
		log := out.String()
		n := strings.Count(log, f.resource+f.repaired)
		repairs = append(repairs, fmt.Sprintf("%s %d", f.resource[:strings.IndexByte(f.resource, '[')], n))
		warned := strings.Contains(log, f.resource+": Repaired ")
		if !warned || !namedRE.MatchString(log) {
			t.Errorf("%s: fight warning %v, other program named %v; want both:\n%s", f.resource, warned, namedRE.MatchString(log), grepLines(log, f.resource))
		}
		if n > 20 {
			t.Errorf("%s: %d repairs in %v of fighting, want them damped (at most 20)", f.resource, n, wall)
		}
	}
	if share := cpu.Seconds() / wall.Seconds(); share > 0.25 {
		t.Errorf("mgmt-puppet used %v of CPU in %v of fighting (%.0f%%), want under 25%%", cpu, wall, 100*share)
	}
	if len(torn) > 0 {
		t.Errorf("reads saw a part of a content: %q", torn)
	}
	_, _, left := s.audit(t)
	addFaultRow(faultRow{
		fault: fmt.Sprintf("two programs rewrite managed files in tight loops for %s (a File's; the hosts file of three Hosts)", seconds(wall)),
		injected: fmt.Sprintf("2 writers; repairs (damped): %s; mgmt-puppet CPU %.0f%% of one core; writers named: %d of 2; %d reads, none torn",
			strings.Join(repairs, ", "), 100*cpu.Seconds()/wall.Seconds(), named, reads),
		lost:     nothingOr(torn),
		left:     nothingOr(left),
		converge: seconds(took) + " after they stopped",
	})
}

// grepLines returns the lines of log that mention s.
func grepLines(log, s string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A directory is swapped for a symlink to elsewhere after the check, while the new
// content waits to be renamed into place (the suite's validate_cmd does the swap):
// nothing is written through the symlink.
func testFaultDirSwap(t *testing.T) {
	const rounds = 5
	var outside []string
	var inPlace int
	for r := range rounds {
		mnt := loopFS(t, 8<<10)
		etc := filepath.Join(mnt, "faults", "etc")
		elsewhere := filepath.Join(mnt, "elsewhere")
		swap := filepath.Join(mnt, "swap.sh")
		script := fmt.Sprintf("#!/bin/sh\nmv %s %s.moved && ln -s %s %s\n", etc, etc, elsewhere, etc)
		if err := os.WriteFile(swap, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(elsewhere, 0o755); err != nil {
			t.Fatal(err)
		}
		s := newFaultSite(t, mnt, swap+" %")
		s.seed(t)
		out, _ := exec.Command(binary(t), "run", "--color", "false", s.catalog).CombinedOutput()
		// Other resources of etc/ checked after the swap follow the symlink, as
		// Puppet does; the one whose check came before must not.
		if _, err := os.Lstat(filepath.Join(elsewhere, "validated.conf")); err == nil {
			outside = append(outside, fmt.Sprintf("round %d: validated.conf", r+1))
		}
		if b, err := os.ReadFile(filepath.Join(etc+".moved", "validated.conf")); err == nil && string(b) == "validated\n" {
			inPlace++
		} else {
			t.Errorf("round %d: validated.conf not written in the directory that was checked: %q %v\n%.2000s", r+1, b, err, out)
		}
	}
	if len(outside) > 0 {
		t.Errorf("written through the symlink: %q", outside)
	}
	addFaultRow(faultRow{
		fault:    "a managed file's directory swapped for a symlink to elsewhere between check and rename",
		injected: fmt.Sprintf("%d (written into the directory checked: %d)", rounds, inPlace),
		lost:     "nothing",
		left:     "nothing outside: " + nothingOr(outside),
		converge: "the next pass follows the symlink, as Puppet does",
	})
}

// A managed file is swapped, again and again, for a symlink to a secret file
// while its mode is repaired: the secret's mode never changes.
func testFaultFileSwap(t *testing.T) {
	mnt := loopFS(t, 8<<10)
	s := newFaultSite(t, mnt, "")
	s.seed(t)
	secret := filepath.Join(mnt, "secret")
	if err := os.WriteFile(secret, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, out := s.keepConverged(t)
	if _, ok := waitFor(30*time.Second, s.allNew); !ok {
		t.Fatalf("not converged:\n%.3000s", out.String())
	}
	mode := filepath.Join(s.base, "etc", "mode.conf")
	const swaps = 2000
	var changed []string
	for i := range swaps {
		// A fresh file with the wrong mode (a poke), then a symlink in its place.
		tmp := mode + ".swap"
		if i%2 == 0 {
			_ = os.WriteFile(tmp, nil, 0o600)
			_ = os.Chmod(tmp, 0o600)
		} else {
			_ = os.Symlink(secret, tmp)
		}
		_ = os.Rename(tmp, mode)
		var st syscall.Stat_t
		if err := syscall.Stat(secret, &st); err == nil && st.Mode&0o777 != 0o600 {
			changed = append(changed, fmt.Sprintf("swap %d: secret mode %o", i, st.Mode&0o777))
			break
		}
		time.Sleep(500 * time.Microsecond)
	}
	_ = os.Remove(mode)
	took, ok := waitFor(60*time.Second, func() bool {
		var st syscall.Stat_t
		return syscall.Lstat(mode, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Mode&0o777 == 0o644
	})
	if !ok {
		t.Errorf("mode.conf not converged after the swaps")
	}
	if len(changed) > 0 {
		t.Errorf("the symlink's target was changed: %q", changed)
	}
	repairs := strings.Count(out.String(), "File["+mode+"]/mode: mode changed") + strings.Count(out.String(), "File["+mode+"]/ensure: ")
	_, _, left := s.audit(t)
	sort.Strings(left)
	left = slices.DeleteFunc(left, func(s string) bool { return s == "etc/mode.conf.swap" })
	addFaultRow(faultRow{
		fault:    "a file whose mode is managed swapped for a symlink to a 0600 secret, in a loop",
		injected: fmt.Sprintf("%d swaps, %d repairs (damped as a fight; resources' TestFileSwappedForSymlinkStress races about 9000 undamped repairs)", swaps, repairs),
		lost:     "nothing; the secret's mode changed: " + nothingOr(changed),
		left:     nothingOr(left),
		converge: seconds(took) + " after the swaps stopped",
	})
}
