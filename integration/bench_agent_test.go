package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
