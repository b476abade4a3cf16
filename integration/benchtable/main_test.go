package main

import (
	"strings"
	"testing"
)

const canned = `goos: linux
goarch: amd64
pkg: github.com/mgmt-puppet/mgmt-puppet/integration
cpu: AMD EPYC
BenchmarkFirstApply/catalog=files1000/tool=mgmt-puppet-2         	       3	 412000000 ns/op	        40.10 peak-RSS-MB
BenchmarkFirstApply/catalog=files1000/tool=puppet-2              	       3	8240000000 ns/op	       117.0 peak-RSS-MB
BenchmarkNoopReapply/catalog=files1000/tool=mgmt-puppet-2        	       3	  95000000 ns/op	        30.00 peak-RSS-MB
--- SKIP: BenchmarkNoopReapply/catalog=files1000/tool=puppet
    bench_test.go:101: puppet is not installed
BenchmarkSleepChains/tool=mgmt-puppet-2                          	       3	6022256689 ns/op	         6.100 peak-RSS-MB
BenchmarkSleepChains/tool=mgmt-puppet-2                          	       3	6040000000 ns/op	         6.500 peak-RSS-MB
BenchmarkSleepChains/tool=puppet-2                               	       3	12415242253 ns/op	        65.30 peak-RSS-MB
BenchmarkScale/files=10000/apply=first/tool=mgmt-puppet-2        	       3	3100000000 ns/op	       150.0 peak-RSS-MB
BenchmarkDriftRepair/change=delete-2                             	       3	   4100000 ns/op	         2.400 max-ms	         1.100 p50-ms	         2.000 p99-ms
BenchmarkCrash-2                                                 	       3	 900000000 ns/op	        15.00 kills	     30090 files-checked	         0 partial	         0 left-after-restart
--- FAIL: BenchmarkDriftRepair/change=edit
PASS
ok  	github.com/mgmt-puppet/mgmt-puppet/integration	120.1s
`

func TestTable(t *testing.T) {
	var out strings.Builder
	if err := table(strings.NewReader(canned), &out); err != nil {
		t.Fatal(err)
	}
	want := `| scenario | mgmt-puppet | puppet | ratio (puppet/mgmt-puppet) | peak RSS mgmt-puppet | peak RSS puppet |
|---|---|---|---|---|---|
| FirstApply/catalog=files1000 | 412 ms | 8.24 s | 20.0x | 40 MB | 117 MB |
| NoopReapply/catalog=files1000 | 95 ms | — | — | 30 MB | — |
| SleepChains | 6.03 s | 12.42 s | 2.1x | 6 MB | 65 MB |
| Scale/files=10000/apply=first | 3.10 s | — | — | 150 MB | — |
| DriftRepair/change=delete p50 | 1.1 ms | — | | | |
| DriftRepair/change=delete p99 | 2.0 ms | — | | | |
| DriftRepair/change=delete max | 2.4 ms | — | | | |
| Crash | 15 kills survived, 30090 files checked, 0 partial, 0 left after the next run | — | | | |

Drift repair: time from the change to the file being back with the right content;
puppet repairs drift only at its next run (every 30 minutes by default).

Skipped: BenchmarkNoopReapply/catalog=files1000/tool=puppet

FAILED: BenchmarkDriftRepair/change=edit
`
	if got := out.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct{ in, scen, tool string }{
		{"BenchmarkFirstApply/catalog=files1000/tool=mgmt-puppet-2", "FirstApply/catalog=files1000", "mgmt-puppet"},
		{"BenchmarkSleepChains/tool=puppet", "SleepChains", "puppet"}, // GOMAXPROCS=1: no suffix
		{"BenchmarkScale/files=100000/apply=noop/tool=mgmt-puppet-16", "Scale/files=100000/apply=noop", "mgmt-puppet"},
		{"BenchmarkDriftRepair/change=edit-2", "DriftRepair/change=edit", "mgmt-puppet"},
	} {
		scen, tool := split(c.in)
		if scen != c.scen || tool != c.tool {
			t.Errorf("split(%q) = %q, %q; want %q, %q", c.in, scen, tool, c.scen, c.tool)
		}
	}
}

func TestEmptyInput(t *testing.T) {
	if err := table(strings.NewReader("PASS\n"), &strings.Builder{}); err == nil {
		t.Error("no error for an input without benchmarks")
	}
}
