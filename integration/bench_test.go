package integration

// The benchmarks behind `make bench`. Every iteration is exactly one run of a real
// process (the built mgmt-puppet binary or `puppet apply --catalog`), timed from
// fork to exit, so ns/op is whole-process wall time; setup and checks run with the
// timer stopped. Benchmarks that need puppet skip without it, except when CI=true,
// where they fail. `go run ./integration/benchtable` turns the output into a table.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/fixtures/synth"
	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
	"github.com/mgmt-puppet/mgmt-puppet/resources/filecache"
)

// benchPlaceholder is the root that every fixture catalog manages paths under.
const benchPlaceholder = "/tmp/mgmt-puppet-fixture"

// benchProcessTimeout bounds one process run; a run that hangs is killed (that PID
// only) and fails the benchmark.
const benchProcessTimeout = 15 * time.Minute

const (
	toolMgmt   = "mgmt-puppet"
	toolPuppet = "puppet"
)

var benchTools = []string{toolMgmt, toolPuppet}

var benchBuild struct {
	once sync.Once
	path string
	err  error
}

// benchModuleRoot is the module's root directory, from `go env GOMOD` run in the
// test's working directory.
func benchModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// benchBinary builds mgmt-puppet once per test process and returns its path. The
// binary goes to one fixed folder per user, replaced atomically at every build, so
// repeated runs leave nothing behind.
func benchBinary(b *testing.B) string {
	b.Helper()
	benchBuild.once.Do(func() {
		root, err := benchModuleRoot()
		if err != nil {
			benchBuild.err = err
			return
		}
		dir := filepath.Join(os.TempDir(), "mgmt-puppet-bench-"+strconv.Itoa(os.Getuid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			benchBuild.err = err
			return
		}
		tmp := filepath.Join(dir, "mgmt-puppet."+strconv.Itoa(os.Getpid()))
		cmd := exec.Command("go", "build", "-o", tmp, "./cmd/mgmt-puppet")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			benchBuild.err = fmt.Errorf("go build ./cmd/mgmt-puppet: %w\n%s", err, out)
			return
		}
		benchBuild.path = filepath.Join(dir, "mgmt-puppet")
		benchBuild.err = os.Rename(tmp, benchBuild.path)
	})
	if benchBuild.err != nil {
		b.Fatal(benchBuild.err)
	}
	return benchBuild.path
}

// benchNeedPuppet skips the benchmark when puppet is missing, except in CI
// (CI=true), where the comparison must run and a missing puppet is a failure.
func benchNeedPuppet(b *testing.B) {
	b.Helper()
	if _, err := exec.LookPath("puppet"); err != nil {
		testenv.Missing(b, "puppet is not installed (apt-get install puppet): %v", err)
	}
}

// benchFixture writes fixture name's catalog to file with the placeholder root
// replaced by root, and creates root.
func benchFixture(b *testing.B, name, root, file string) {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("..", "fixtures", name, "catalog.json"))
	if err != nil {
		b.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte(benchPlaceholder), []byte(root))
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

// benchSynth writes a synthetic catalog of files files under root/files/ to file,
// and creates root.
func benchSynth(b *testing.B, root, file string, files int) {
	b.Helper()
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	if err := synth.Write(f, synth.Options{Root: root, Files: files}); err != nil {
		f.Close()
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// benchRun is one timed process run.
type benchRun struct {
	wall  time.Duration
	rssKB int64 // peak RSS of the process (benchHWM)
	code  int
	out   string // stdout and stderr together
}

// benchTail is the last n lines of out, for failure messages.
func benchTail(out string, n int) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// benchExec runs name once. With timed set the benchmark timer runs from just
// before the fork to just after the exit, and only then; before it starts, an
// untimed sync(2) writes back what earlier runs and clean-ups left dirty, so that
// one run does not pay for the disk work of the one before.
func benchExec(b *testing.B, timed bool, name string, args ...string) benchRun {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), benchProcessTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if timed {
		unix.Sync()
		b.StartTimer()
	}
	start := time.Now()
	err := cmd.Start()
	var peak benchHWM
	if err == nil {
		peak.watch(cmd.Process.Pid)
		err = cmd.Wait()
	}
	wall := time.Since(start)
	if timed {
		b.StopTimer()
	}
	r := benchRun{wall: wall, out: out.String(), rssKB: peak.stop()}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		b.Fatalf("%s %s: killed after %v: %v\n%s", name, strings.Join(args, " "), benchProcessTimeout, err, benchTail(r.out, 20))
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		b.Fatalf("%s: %v", name, err)
	}
	return r
}

// benchHWM follows a process's peak RSS, VmHWM in /proc/PID/status, every
// benchHWMEvery until stop. The rusage of a process that Go started does not
// tell it: Go starts processes with vfork, so the child's address space until
// it execs is the parent's, and Linux counts that space's peak as the child's
// (a /bin/true started by a test of 300 MB "peaked" at 310 MB). The peak
// reached in the last interval before the process exits can be missed; a
// process's memory does not shrink back in that time here.
type benchHWM struct {
	done chan struct{}
	kb   chan int64
}

const benchHWMEvery = 10 * time.Millisecond

func (h *benchHWM) watch(pid int) {
	h.done, h.kb = make(chan struct{}), make(chan int64, 1)
	file := "/proc/" + strconv.Itoa(pid) + "/status"
	go func() {
		var peak int64
		tick := time.NewTicker(benchHWMEvery)
		defer tick.Stop()
		for {
			if st, err := os.ReadFile(file); err == nil {
				for _, l := range strings.Split(string(st), "\n") {
					if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
						if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); err == nil {
							peak = max(peak, kb)
						}
					}
				}
			}
			select {
			case <-h.done:
				h.kb <- peak
				return
			case <-tick.C:
			}
		}
	}()
}

// stop ends the watch and returns the peak seen, in kB (0 if none was).
func (h *benchHWM) stop() int64 {
	if h.done == nil {
		return 0
	}
	close(h.done)
	return <-h.kb
}

// benchErrorLines are the lines of out that report errors; Facter's harmless
// /proc/1/environ complaints (when puppet runs in a container) are left out.
func benchErrorLines(out string) []string {
	var errs []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Error:") && !strings.Contains(l, "/proc/1/environ") {
			errs = append(errs, l)
		}
	}
	return errs
}

// benchAnyCode accepts both successful exit codes of --detailed-exitcodes.
const benchAnyCode = -1

// benchApply applies catalog once with tool. mgmt-puppet runs with
// --detailed-exitcodes and must exit with wantCode (0 no changes, 2 changes, or
// benchAnyCode for either);
// puppet, for which --detailed-exitcodes does not apply to --catalog, must exit 0.
// state is a folder of the caller's for puppet's confdir, vardir and codedir; keep
// it between a first apply and its re-apply, as a real node would.
func benchApply(b *testing.B, timed bool, tool, catalog, state string, wantCode int, flags ...string) benchRun {
	b.Helper()
	var r benchRun
	switch tool {
	case toolMgmt:
		if !slices.Contains(flags, "--file-cache") {
			// The file cache of this node, not the machine's.
			cache := ""
			if state != "" {
				cache = filepath.Join(state, "files.cache")
			}
			flags = append(flags, "--file-cache", cache)
		}
		r = benchExec(b, timed, benchBinary(b), append([]string{"run", catalog, "--color", "false",
			"--converged-timeout", "0", "--detailed-exitcodes"}, flags...)...)
	case toolPuppet:
		modules := filepath.Join(state, "modules") // empty: see fixtures/apply-reference.sh
		if err := os.MkdirAll(modules, 0o755); err != nil {
			b.Fatal(err)
		}
		wantCode = 0
		r = benchExec(b, timed, "puppet", "apply", "--catalog", catalog, "--color", "false",
			"--confdir", filepath.Join(state, "conf"), "--vardir", filepath.Join(state, "var"),
			"--codedir", filepath.Join(state, "code"), "--basemodulepath", modules)
	default:
		b.Fatalf("unknown tool %q", tool)
	}
	if r.code != wantCode && !(wantCode == benchAnyCode && (r.code == 0 || r.code == 2)) {
		b.Fatalf("%s on %s: exit %d, want %d\n%s", tool, catalog, r.code, wantCode, benchTail(r.out, 20))
	}
	if errs := benchErrorLines(r.out); len(errs) > 0 {
		b.Fatalf("%s on %s: %d error lines, first: %s", tool, catalog, len(errs), errs[0])
	}
	return r
}

// benchCheckFiles checks that dir holds file-1 .. file-n with the content that the
// files1000 fixture and synth give them ("file N\n").
func benchCheckFiles(b *testing.B, dir string, n int) {
	b.Helper()
	for i := 1; i <= n; i++ {
		name := "file-" + strconv.Itoa(i)
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			b.Fatalf("after apply: %v", err)
		}
		if want := "file " + strconv.Itoa(i) + "\n"; string(got) != want {
			b.Fatalf("after apply: %s: content %q, want %q", name, got, want)
		}
	}
}

// benchPeakRSS keeps the highest peak RSS of the timed runs and reports it.
type benchPeakRSS int64

func (p *benchPeakRSS) add(r benchRun) { *p = max(*p, benchPeakRSS(r.rssKB)) }

func (p benchPeakRSS) report(b *testing.B) {
	b.ReportMetric(math.Round(float64(p)/1024*10)/10, "peak-RSS-MB")
}

// benchKeep holds the folders of the file benchmarks (benchDir) until the
// benchmarks end (TestMain): on an ext4 without a journal (this VM's) the inode
// allocator skips, reading an inode table block for each, the free inodes deleted
// in the last minute (six once their block is dirty again: recently_deleted), so
// a run that follows the removal of many files pays for it (16% of perf's samples
// in a 100,000-file first apply made right after 100,000 files were removed).
var benchKeep struct {
	once sync.Once
	dir  string
	err  error
}

// benchDir is a new folder kept until the benchmarks end, for roots that the
// next benchmarks must not pay to remove.
func benchDir(b *testing.B) string {
	b.Helper()
	benchKeep.once.Do(func() { benchKeep.dir, benchKeep.err = os.MkdirTemp("", "mgmt-puppet-bench-roots-") })
	if benchKeep.err != nil {
		b.Fatal(benchKeep.err)
	}
	dir, err := os.MkdirTemp(benchKeep.dir, strings.ReplaceAll(b.Name(), "/", "_"))
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// TestMain removes benchDir's folders once every test and benchmark has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchKeep.dir != "" {
		os.RemoveAll(benchKeep.dir)
	}
	os.Exit(code)
}

// BenchmarkFirstApply applies files1000 (one folder, 1000 files) to an empty root,
// a fresh one at every iteration. Roots are removed only when the benchmarks end
// (benchDir), so that no timed run starts right after the removal of thousands of
// files.
func BenchmarkFirstApply(b *testing.B) {
	benchEachTool(b, "catalog=files1000/", func(b *testing.B, tool string) {
		base := benchDir(b)
		var rss benchPeakRSS
		for i := 0; i < b.N; i++ {
			dir, root, catalog := benchIterDir(b, base)
			benchFixture(b, "files1000", root, catalog)
			rss.add(benchApply(b, true, tool, catalog, filepath.Join(dir, "state"), 2))
			benchCheckFiles(b, filepath.Join(root, "files1000"), 1000)
		}
		rss.report(b)
	})
	// Puppet's order, one resource at a time; and each file fsynced on its own,
	// against the default, where files written together share one syncfs (group
	// commit).
	for _, v := range []struct{ name, flag string }{{"order=serial", "--serial"}, {"sync=fsync-each", "--fsync-each"}} {
		b.Run("catalog=files1000/"+v.name+"/tool="+toolMgmt, func(b *testing.B) {
			b.StopTimer()
			base := benchDir(b)
			var rss benchPeakRSS
			for i := 0; i < b.N; i++ {
				_, root, catalog := benchIterDir(b, base)
				benchFixture(b, "files1000", root, catalog)
				rss.add(benchApply(b, true, toolMgmt, catalog, "", 2, v.flag))
				benchCheckFiles(b, filepath.Join(root, "files1000"), 1000)
			}
			rss.report(b)
		})
	}
}

// BenchmarkNoopReapply applies files1000 once untimed, then times re-applies that
// find everything in sync.
func BenchmarkNoopReapply(b *testing.B) {
	benchEachTool(b, "catalog=files1000/", func(b *testing.B, tool string) {
		dir := benchDir(b)
		root, catalog, state := filepath.Join(dir, "root"), filepath.Join(dir, "catalog.json"), filepath.Join(dir, "state")
		benchFixture(b, "files1000", root, catalog)
		benchApply(b, false, tool, catalog, state, 2)
		benchCheckFiles(b, filepath.Join(root, "files1000"), 1000)
		var rss benchPeakRSS
		for i := 0; i < b.N; i++ {
			rss.add(benchApply(b, true, tool, catalog, state, 0))
		}
		rss.report(b)
	})
}

// BenchmarkSleepChains applies the sleep fixture: `sleep 2` three times in a
// require chain and once on its own. Serial, that is 8 s; in parallel, 6 s.
func BenchmarkSleepChains(b *testing.B) {
	benchEachTool(b, "", func(b *testing.B, tool string) {
		dir := benchDir(b)
		catalog := filepath.Join(dir, "catalog.json")
		benchFixture(b, "sleep", filepath.Join(dir, "root"), catalog)
		var rss benchPeakRSS
		for i := 0; i < b.N; i++ {
			// Execs without a guard run every time: always a change.
			rss.add(benchApply(b, true, tool, catalog, filepath.Join(dir, "state"), 2))
		}
		rss.report(b)
	})
	// One resource at a time in Puppet's order (--serial): what the parallel walk
	// saves.
	b.Run("order=serial/tool="+toolMgmt, func(b *testing.B) {
		b.StopTimer()
		dir := benchDir(b)
		catalog := filepath.Join(dir, "catalog.json")
		benchFixture(b, "sleep", filepath.Join(dir, "root"), catalog)
		var rss benchPeakRSS
		for i := 0; i < b.N; i++ {
			rss.add(benchApply(b, true, toolMgmt, catalog, "", 2, "--serial"))
		}
		rss.report(b)
	})
}

// BenchmarkScale applies synthetic catalogs of many files with mgmt-puppet only
// (puppet would take minutes): a first apply to an empty root (a fresh root and
// catalog at every iteration, removed only when the benchmarks end, as in
// BenchmarkFirstApply), and a re-apply with everything in sync.
func BenchmarkScale(b *testing.B) {
	// Removed only when the benchmarks end (benchDir), so that the 10,000-file
	// roots are not removed just before the 100,000-file first apply.
	all := benchDir(b)
	for _, files := range []int{10000, 100000} {
		b.Run("files="+strconv.Itoa(files), func(b *testing.B) {
			base, err := os.MkdirTemp(all, "files")
			if err != nil {
				b.Fatal(err)
			}
			var last string // the catalog of the last first apply, for the no-op runs

			b.Run("apply=first/tool="+toolMgmt, func(b *testing.B) {
				b.StopTimer()
				var rss benchPeakRSS
				for i := 0; i < b.N; i++ {
					_, root, catalog := benchIterDir(b, base)
					benchSynth(b, root, catalog, files)
					rss.add(benchApply(b, true, toolMgmt, catalog, "", 2))
					benchCheckFiles(b, filepath.Join(root, "files"), files)
					last = catalog
				}
				rss.report(b)
			})
			// The no-op as a node runs it between two runs: the file cache
			// (--file-cache) filled by the run before, made at least
			// filecache.MinAge after the files were written, as a node's runs
			// are 30 minutes apart; and reading every file, as Puppet does.
			for _, v := range []struct{ name, cache string }{{"", "files.cache"}, {"/file-cache=off", ""}} {
				b.Run("apply=noop"+v.name+"/tool="+toolMgmt, func(b *testing.B) {
					b.StopTimer()
					if last == "" { // apply=first was filtered out: apply once, untimed
						// In base, which outlives this function: the benchmark
						// calls it again with a larger b.N.
						_, root, catalog := benchIterDir(b, base)
						benchSynth(b, root, catalog, files)
						benchApply(b, false, toolMgmt, catalog, "", 2)
						last = catalog
					}
					flags := []string{"--file-cache", ""}
					if v.cache != "" {
						flags[1] = filepath.Join(base, v.cache)
						time.Sleep(filecache.MinAge)
						benchApply(b, false, toolMgmt, last, "", 0, flags...)
					}
					var rss benchPeakRSS
					for i := 0; i < b.N; i++ {
						rss.add(benchApply(b, true, toolMgmt, last, "", 0, flags...))
					}
					rss.report(b)
				})
			}
		})
	}
}

const (
	benchDriftFiles   = 100
	benchDriftTrials  = 200
	benchDriftTimeout = 2 * time.Second       // a trial not repaired by then fails
	benchDriftSpacing = 30 * time.Millisecond // between trials
)

// BenchmarkDriftRepair keeps a catalog of 100 files converged with
// `mgmt-puppet run --converged-timeout -1` and, 200 times, deletes a file or
// overwrites its content, then measures the time until the file is back with the
// right content. The repair is noticed through inotify, not by polling. ns/op is
// the mean repair time; p50-ms, p99-ms and max-ms are reported too.
func BenchmarkDriftRepair(b *testing.B) {
	for _, change := range []string{"delete", "edit"} {
		b.Run("change="+change, func(b *testing.B) {
			b.StopTimer()
			dir := b.TempDir()
			root, catalog := filepath.Join(dir, "root"), filepath.Join(dir, "catalog.json")
			benchSynth(b, root, catalog, benchDriftFiles)
			d := benchStartDaemon(b, catalog)
			filesDir := filepath.Join(root, "files")
			benchCheckFiles(b, filesDir, benchDriftFiles)

			w := benchNewInotify(b, filesDir)
			lat := make([]time.Duration, 0, benchDriftTrials)
			for i := 0; i < benchDriftTrials; i++ {
				n := i%benchDriftFiles + 1
				name := "file-" + strconv.Itoa(n)
				path, want := filepath.Join(filesDir, name), "file "+strconv.Itoa(n)+"\n"
				w.drain(b)
				start := time.Now()
				switch change {
				case "delete":
					if err := os.Remove(path); err != nil {
						b.Fatalf("trial %d: %v", i, err)
					}
				case "edit":
					if err := os.WriteFile(path, []byte("drifted in trial "+strconv.Itoa(i)+"\n"), 0o644); err != nil {
						b.Fatalf("trial %d: %v", i, err)
					}
				}
				if err := w.await(name, path, want, start.Add(benchDriftTimeout)); err != nil {
					b.Fatalf("trial %d (%s %s): not repaired within %v: %v\nmgmt-puppet log tail:\n%s",
						i, change, name, benchDriftTimeout, err, d.tail())
				}
				lat = append(lat, time.Since(start))
				time.Sleep(benchDriftSpacing)
			}
			d.stop(b)
			if errs := d.errorLines(); len(errs) > 0 {
				b.Errorf("mgmt-puppet logged %d error lines, first: %s", len(errs), errs[0])
			}

			slices.Sort(lat)
			var sum time.Duration
			for _, l := range lat {
				sum += l
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), "ns/op")
			b.ReportMetric(ms(benchPercentile(lat, 50)), "p50-ms")
			b.ReportMetric(ms(benchPercentile(lat, 99)), "p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
		})
	}
}

// benchPercentile is the nearest-rank percentile p of sorted.
func benchPercentile(sorted []time.Duration, p int) time.Duration {
	i := (p*len(sorted)+99)/100 - 1
	return sorted[max(i, 0)]
}

// benchDaemon is a `mgmt-puppet run --converged-timeout -1` child whose output is
// read continuously (so it never blocks on a full pipe) and kept for diagnostics.
type benchDaemon struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the child has been waited for
	mu     sync.Mutex
	lines  []string
}

func (d *benchDaemon) tail() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return benchTail(strings.Join(d.lines, "\n"), 20)
}

func (d *benchDaemon) errorLines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return benchErrorLines(strings.Join(d.lines, "\n"))
}

// benchStartDaemon starts mgmt-puppet on catalog and waits (at most a minute) for
// its first pass to finish ("Applied catalog" on stdout). The daemon is stopped at
// the end of the benchmark if the benchmark has not stopped it.
func benchStartDaemon(b *testing.B, catalog string) *benchDaemon {
	b.Helper()
	cmd := exec.Command(benchBinary(b), "run", catalog, "--color", "false", "--converged-timeout", "-1")
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w.Close()
	d := &benchDaemon{cmd: cmd, exited: make(chan struct{})}
	applied := make(chan struct{})
	go func() {
		defer r.Close()
		s := bufio.NewScanner(r)
		s.Buffer(nil, 1<<20)
		seen := false
		for s.Scan() {
			d.mu.Lock()
			d.lines = append(d.lines, s.Text())
			d.mu.Unlock()
			if !seen && strings.HasPrefix(s.Text(), "Notice: Applied catalog") {
				seen = true
				close(applied)
			}
		}
	}()
	go func() {
		cmd.Wait()
		close(d.exited)
	}()
	b.Cleanup(func() { d.stop(b) })
	select {
	case <-applied:
		return d
	case <-d.exited:
		b.Fatalf("mgmt-puppet exited before its first pass finished: %v\n%s", cmd.ProcessState, d.tail())
	case <-time.After(time.Minute):
		b.Fatalf("mgmt-puppet: no \"Applied catalog\" within a minute\n%s", d.tail())
	}
	return nil
}

// stop sends SIGTERM and waits up to 5 s for the child to exit; then it kills that
// PID. A daemon that needs the kill, or exits with a failure, fails the benchmark.
func (d *benchDaemon) stop(b *testing.B) {
	select {
	case <-d.exited:
		return
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Errorf("mgmt-puppet: SIGTERM: %v", err)
	}
	select {
	case <-d.exited:
		if !d.cmd.ProcessState.Success() {
			b.Errorf("mgmt-puppet after SIGTERM: %v\n%s", d.cmd.ProcessState, d.tail())
		}
	case <-time.After(5 * time.Second):
		b.Errorf("mgmt-puppet did not exit within 5 s of SIGTERM; killing PID %d\n%s", d.cmd.Process.Pid, d.tail())
		d.cmd.Process.Kill()
		<-d.exited
	}
}

// benchInotify watches one folder for files being written, created or moved in.
type benchInotify struct {
	fd  int
	dir string
	buf []byte
}

func benchNewInotify(b *testing.B, dir string) *benchInotify {
	b.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		b.Fatalf("inotify_init1: %v", err)
	}
	b.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO|unix.IN_CREATE); err != nil {
		b.Fatalf("inotify_add_watch %s: %v", dir, err)
	}
	return &benchInotify{fd: fd, dir: dir, buf: make([]byte, 64<<10)}
}

// read returns the names of the events queued now (nil when none), and whether the
// queue overflowed.
func (w *benchInotify) read() (names []string, overflow bool, err error) {
	n, err := unix.Read(w.fd, w.buf)
	if errors.Is(err, unix.EAGAIN) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("inotify read: %w", err)
	}
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&w.buf[off]))
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			overflow = true
		}
		raw := w.buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
		names = append(names, string(bytes.TrimRight(raw, "\x00")))
		off += unix.SizeofInotifyEvent + int(ev.Len)
	}
	return names, overflow, nil
}

// drain drops the events of earlier trials.
func (w *benchInotify) drain(b *testing.B) {
	for {
		names, _, err := w.read()
		if err != nil {
			b.Fatal(err)
		}
		if names == nil {
			return
		}
	}
}

// await waits until path (called name in the watched folder) holds want: at
// every event on name (or a queue overflow) it reads the file, until deadline.
func (w *benchInotify) await(name, path, want string, deadline time.Time) error {
	check := func() bool {
		got, err := os.ReadFile(path)
		return err == nil && string(got) == want
	}
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			got, err := os.ReadFile(path)
			switch {
			case err != nil:
				return err
			case string(got) == want:
				return errors.New("the content is right now, but no inotify event said so in time")
			default:
				return fmt.Errorf("content %q, want %q", got, want)
			}
		}
		fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(wait.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll: %w", err)
		}
		for {
			names, overflow, err := w.read()
			if err != nil {
				return err
			}
			if names == nil {
				break
			}
			if (overflow || slices.Contains(names, name)) && check() {
				return nil
			}
		}
	}
}

// benchIterDir makes a fresh folder under base for one iteration and returns it
// with the root and catalog paths inside it.
func benchIterDir(b *testing.B, base string) (dir, root, catalog string) {
	b.Helper()
	dir, err := os.MkdirTemp(base, "iter-")
	if err != nil {
		b.Fatal(err)
	}
	return dir, filepath.Join(dir, "root"), filepath.Join(dir, "catalog.json")
}

// benchEachTool runs body as a sub-benchmark "<prefix>tool=<tool>" for each tool,
// with the timer stopped; the puppet one needs puppet (benchNeedPuppet), the
// mgmt-puppet one builds the binary first.
func benchEachTool(b *testing.B, prefix string, body func(b *testing.B, tool string)) {
	for _, tool := range benchTools {
		b.Run(prefix+"tool="+tool, func(b *testing.B) {
			b.StopTimer()
			if tool == toolPuppet {
				benchNeedPuppet(b)
			} else {
				benchBinary(b)
			}
			body(b, tool)
		})
	}
}

// BenchmarkCrash kills `mgmt-puppet run` (SIGKILL) at a random moment of the first
// apply of fixtures/faults (2000 Files, Hosts, keys, an fstab entry, File_line,
// Concat), five times per iteration, and checks every managed file: whole old or
// whole new content, never a part; then runs again and checks that nothing is left
// beside them. It reports counts, not time: kills, files checked, partial files
// (must be 0) and what the next run left (must be 0).
func BenchmarkCrash(b *testing.B) {
	b.StopTimer()
	s := newFaultSite(b, b.TempDir(), "")
	bin := benchBinary(b)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	whole := s.wholeApply(b, bin)
	var kills, checked, partial, left int
	for range b.N {
		for range 5 {
			s.seed(b)
			cmd := exec.Command(bin, "run", "--color", "false", s.catalog)
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			time.Sleep(time.Duration(float64(whole) * (0.05 + 0.9*rng.Float64())))
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			kills++
			p, _, _ := s.audit(b)
			checked += faultFiles + len(oldRecords)
			partial += len(p)
			if out, err := exec.Command(bin, "run", "--color", "false", s.catalog).CombinedOutput(); err != nil {
				b.Fatalf("run after a kill: %v\n%.2000s", err, out)
			}
			p, _, l := s.audit(b)
			partial += len(p)
			left += len(l)
			if !s.allNew() {
				b.Fatal("the run after a kill did not converge")
			}
		}
	}
	if partial > 0 || left > 0 {
		b.Errorf("%d partial files, %d left behind after the next run", partial, left)
	}
	b.ReportMetric(float64(kills), "kills")
	b.ReportMetric(float64(checked), "files-checked")
	b.ReportMetric(float64(partial), "partial")
	b.ReportMetric(float64(left), "left-after-restart")
}
