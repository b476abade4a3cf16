package integration

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// BenchmarkAgentNoop times a no-change agent run against a warm real Puppet
// Server: `mgmt-puppet agent --test` and `puppet agent --test`, as two nodes of
// the server (fixtures/agent: files and a recursed folder from the server, a
// custom and an external fact, an Ini_setting of Debian's inifile module, an
// exec), each after an untimed first run. Besides wall time and peak RSS it
// reports where the run's time went, from the last_run_summary.yaml each wrote:
// facts, pluginsync, the catalog request (the server's compile), and applying.
func BenchmarkAgentNoop(b *testing.B) {
	root := b.TempDir()
	srv := startRealServer(b, root)
	nodes := 0
	benchEachTool(b, "run=noop/", func(b *testing.B, tool string) {
		// Go runs this more than once (b.N 1, then 3): a new node each time, since
		// the CA signs one certificate per name.
		nodes++
		n := agentNode{certname: fmt.Sprintf("%s-%d.bench", tool, nodes), dir: filepath.Join(b.TempDir(), tool)}
		name, args := "puppet", []string{"agent"}
		if tool == toolMgmt {
			name = benchBinary(b)
		}
		args = append(args, n.args(srv, "--test")...)
		if r := benchExec(b, false, name, args...); r.code != 2 {
			b.Fatalf("%s's first run: exit %d, want 2\n%s", tool, r.code, benchTail(r.out, 20))
		}
		var rss benchPeakRSS
		times := map[string]float64{}
		for i := 0; i < b.N; i++ {
			r := benchExec(b, true, name, args...)
			if r.code != 0 {
				b.Fatalf("%s's no-op run: exit %d, want 0\n%s", tool, r.code, benchTail(r.out, 20))
			}
			rss.add(r)
			for k, v := range summaryTimes(b, filepath.Join(n.dir, "pub", "last_run_summary.yaml")) {
				times[k] += v / float64(b.N)
			}
		}
		rss.report(b)
		b.ReportMetric(times["fact_generation"], "facts-s")
		b.ReportMetric(times["plugin_sync"], "pluginsync-s")
		b.ReportMetric(times["config_retrieval"], "catalog-s")
		b.ReportMetric(times["catalog_application"], "apply-s")
	})
}

// summaryTimes reads the time section of last_run_summary.yaml.
func summaryTimes(b *testing.B, file string) map[string]float64 {
	b.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	var sum struct {
		Time map[string]float64 `yaml:"time"`
	}
	if err := yaml.Unmarshal(data, &sum); err != nil {
		b.Fatalf("%s: %v", file, err)
	}
	return sum.Time
}

// BenchmarkAgentDaemonRSS starts `mgmt-puppet agent` and `puppet agent`, both as
// daemons in the foreground (--no-daemonize), on a catalog of 1000 files from the
// real Puppet Server (fixtures/agent's environment files1000), waits for the
// first run to end and 10 s more, and reports the process's resident memory at
// rest (rest-RSS-MB; for mgmt-puppet with every file watched). ns/op is the
// time from the start to the end of the first run.
func BenchmarkAgentDaemonRSS(b *testing.B) {
	root := b.TempDir()
	srv := startRealServer(b, root)
	nodes := 0
	benchEachTool(b, "catalog=files1000/", func(b *testing.B, tool string) {
		var rest float64
		for i := 0; i < b.N; i++ {
			nodes++
			n := agentNode{certname: fmt.Sprintf("%s-rest-%d.bench", tool, nodes), dir: filepath.Join(b.TempDir(), tool)}
			logFile := filepath.Join(n.dir, "agent.log")
			if err := os.MkdirAll(n.dir, 0o755); err != nil {
				b.Fatal(err)
			}
			name := "puppet"
			if tool == toolMgmt {
				name = benchBinary(b)
			}
			args := append([]string{"agent", "--no-daemonize", "--runinterval", "1h", "--logdest", logFile},
				n.args(srv, "--environment", "files1000")...)
			cmd := exec.Command(name, args...)
			b.StartTimer()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			took, ok := waitFor(5*time.Minute, func() bool {
				data, _ := os.ReadFile(logFile)
				return bytes.Contains(data, []byte("Applied catalog in"))
			})
			b.StopTimer()
			if !ok {
				cmd.Process.Kill()
				cmd.Wait()
				data, _ := os.ReadFile(logFile)
				b.Fatalf("%s: no first run within %v\n%s", tool, took, benchTail(string(data), 20))
			}
			time.Sleep(10 * time.Second)
			rest += float64(statusKB(b, cmd.Process.Pid)) / 1024 / float64(b.N)
			files, _ := os.ReadDir(filepath.Join(root, n.certname+"-files1000"))
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				<-done
				b.Errorf("%s did not stop within a minute of SIGTERM", tool)
			}
			if len(files) != 1000 {
				b.Fatalf("%s: %d files applied, want 1000", tool, len(files))
			}
		}
		b.ReportMetric(math.Round(rest*10)/10, "rest-RSS-MB")
	})
}

// statusKB is a process's resident memory (VmRSS) in kB.
func statusKB(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatalf("no VmRSS for pid %d", pid)
	return 0
}
