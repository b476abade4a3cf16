// Command benchtable reads the output of `go test -bench` for ./integration/ on
// stdin and prints a Markdown table comparing mgmt-puppet with puppet: one row per
// scenario with wall time, the ratio puppet/mgmt-puppet and peak RSS, then rows for
// the drift-repair latencies. Skipped and failed benchmarks are listed below it.
//
//	go test -run '^$' -bench . -benchtime 3x ./integration/ | tee bench.out
//	go run ./integration/benchtable < bench.out
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

func main() {
	if err := table(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

const (
	mgmt   = "mgmt-puppet"
	puppet = "puppet"
)

// procs is the -GOMAXPROCS suffix that `go test` appends to benchmark names.
var procs = regexp.MustCompile(`-\d+$`)

// scenario is one benchmark name without its tool, with the results per tool.
type scenario struct {
	name  string
	tools map[string]*metrics
}

// metrics are one benchmark's values by unit, combined over repeated lines
// (-count): peaks and maxima keep the largest value, the rest their mean.
type metrics struct {
	sum, peak map[string]float64
	n         map[string]int
}

func (m *metrics) add(unit string, v float64) {
	m.sum[unit] += v
	m.n[unit]++
	if m.n[unit] == 1 || v > m.peak[unit] {
		m.peak[unit] = v
	}
}

func (m *metrics) get(unit string) (float64, bool) {
	if m == nil || m.n[unit] == 0 {
		return 0, false
	}
	if strings.Contains(unit, "RSS") || strings.HasPrefix(unit, "max") {
		return m.peak[unit], true
	}
	return m.sum[unit] / float64(m.n[unit]), true
}

// split turns "BenchmarkFirstApply/catalog=files1000/tool=puppet-2" into the
// scenario "FirstApply/catalog=files1000" and the tool "puppet". A name without a
// tool= part is mgmt-puppet's alone (drift repair).
func split(name string) (scen, tool string) {
	name = procs.ReplaceAllString(strings.TrimPrefix(name, "Benchmark"), "")
	tool = mgmt
	var parts []string
	for _, p := range strings.Split(name, "/") {
		if t, ok := strings.CutPrefix(p, "tool="); ok {
			tool = t
			continue
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "/"), tool
}

func table(r io.Reader, w io.Writer) error {
	var order []*scenario
	byName := map[string]*scenario{}
	var skipped, failed []string
	s := bufio.NewScanner(r)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if rest, ok := strings.CutPrefix(line, "--- SKIP: "); ok {
			skipped = append(skipped, strings.Fields(rest)[0])
			continue
		}
		if rest, ok := strings.CutPrefix(line, "--- FAIL: "); ok {
			failed = append(failed, strings.Fields(rest)[0])
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name, tool := split(f[0])
		sc := byName[name]
		if sc == nil {
			sc = &scenario{name: name, tools: map[string]*metrics{}}
			byName[name] = sc
			order = append(order, sc)
		}
		m := sc.tools[tool]
		if m == nil {
			m = &metrics{sum: map[string]float64{}, peak: map[string]float64{}, n: map[string]int{}}
			sc.tools[tool] = m
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			m.add(f[i+1], v)
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	if len(order) == 0 && len(skipped) == 0 && len(failed) == 0 {
		return fmt.Errorf("no benchmark results on input")
	}

	var b strings.Builder
	b.WriteString("| scenario | mgmt-puppet | puppet | ratio (puppet/mgmt-puppet) | peak RSS mgmt-puppet | peak RSS puppet |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	drift := false
	for _, sc := range order {
		m, p := sc.tools[mgmt], sc.tools[puppet]
		if kills, ok := m.get("kills"); ok { // the crash test: counts, not time
			checked, _ := m.get("files-checked")
			partial, _ := m.get("partial")
			left, _ := m.get("left-after-restart")
			fmt.Fprintf(&b, "| %s | %.0f kills survived, %.0f files checked, %.0f partial, %.0f left after the next run | — | | | |\n",
				sc.name, kills, checked, partial, left)
			continue
		}
		if _, ok := m.get("p50-ms"); ok {
			if _, both := p.get("p50-ms"); both { // latencies of both (PuppetDB queries)
				for _, q := range []string{"p50", "p99"} {
					mv, _ := m.get(q + "-ms")
					pv, _ := p.get(q + "-ms")
					fmt.Fprintf(&b, "| %s %s | %s | %s | %.1fx | %s | %s |\n", sc.name, q, duration(mv/1000),
						duration(pv/1000), pv/mv, rssCell(m), rssCell(p))
				}
				continue
			}
			drift = true
			for _, q := range []string{"p50", "p99", "max"} {
				v, ok := m.get(q + "-ms")
				cell := "—"
				if ok {
					cell = duration(v / 1000)
				}
				fmt.Fprintf(&b, "| %s %s | %s | — | | | |\n", sc.name, q, cell)
			}
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", sc.name,
			timeCell(m), timeCell(p), ratio(p, m), rssCell(m), rssCell(p))
	}
	if drift {
		b.WriteString("\nDrift repair: time from the change to the file being back with the right content;\n")
		b.WriteString("puppet repairs drift only at its next run (every 30 minutes by default).\n")
	}
	if len(skipped) > 0 {
		fmt.Fprintf(&b, "\nSkipped: %s\n", strings.Join(skipped, ", "))
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "\nFAILED: %s\n", strings.Join(failed, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// duration formats seconds: "6.02 s", "35 ms", "2.4 ms", "0.41 ms".
func duration(sec float64) string {
	ms := sec * 1000
	switch {
	case sec >= 1:
		return fmt.Sprintf("%.2f s", sec)
	case ms >= 10:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 1:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f ms", ms)
	}
}

func timeCell(m *metrics) string {
	if v, ok := m.get("ns/op"); ok {
		return duration(v / 1e9)
	}
	return "—"
}

func ratio(p, m *metrics) string {
	pv, ok1 := p.get("ns/op")
	mv, ok2 := m.get("ns/op")
	if !ok1 || !ok2 || mv == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1fx", pv/mv)
}

func rssCell(m *metrics) string {
	if v, ok := m.get("peak-RSS-MB"); ok {
		return fmt.Sprintf("%.0f MB", v)
	}
	return "—"
}
