package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// corpusCases lists the cases of fixtures/corpus that have a compiled catalog: the
// catalogs real Puppet compiled from Debian's puppet-module-* packages.
func corpusCases(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(moduleRoot(t), "fixtures", "corpus", "*", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no catalogs in fixtures/corpus (fixtures/corpus/compile.sh makes them)")
	}
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(filepath.Dir(p)))
	}
	sort.Strings(out)
	return out
}

// corpusSelection is the cases CORPUS_CASES names: all of them for "all", a
// comma-separated list, or, when it is empty, ci.
func corpusSelection(t *testing.T, ci []string) []string {
	switch s := os.Getenv("CORPUS_CASES"); s {
	case "":
		return ci
	case "all":
		return corpusCases(t)
	default:
		return strings.Split(s, ",")
	}
}

// translation is what `mgmt-puppet translate --format json` says of a catalog.
type translation struct {
	Types []struct {
		Type        string `json:"type"`
		Native      int    `json:"native"`
		Container   int    `json:"container"`
		Delegated   int    `json:"delegated"`
		Unsupported int    `json:"unsupported"`
	} `json:"types"`
	Parallelism struct {
		Resources         int `json:"resources"`
		CriticalPath      int `json:"critical_path"`
		RelationshipsPath int `json:"relationships_path"`
		Orderings         int `json:"orderings"`
	} `json:"parallelism"`
}

// TestCorpusAccepted translates every corpus catalog as `run` would on a Debian
// node with Puppet and the modules installed: each must be accepted (nothing
// refused), and the share of resources that run natively is reported per case.
// With CORPUS_TABLE=FILE the table goes to FILE (`make corpus`; the README shows it).
func TestCorpusAccepted(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	var rows []string
	var native, delegated, total int
	delegatedTypes := map[string]int{}
	for _, c := range corpusCases(t) {
		path := filepath.Join(moduleRoot(t), "fixtures", "corpus", c, "catalog.json")
		res := runCommand(t, bin, "translate", "--format", "json", path)
		if res.code != 0 {
			t.Errorf("%s: translate exit %d:\n%s", c, res.code, res.out)
			rows = append(rows, fmt.Sprintf("| %s | REFUSED | | | | | |", c))
			continue
		}
		// Warnings come before the JSON on the same output.
		out := res.out[strings.Index(res.out, "{"):]
		var tr translation
		if err := json.Unmarshal([]byte(out), &tr); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		n, d := 0, 0
		for _, ty := range tr.Types {
			n += ty.Native
			d += ty.Delegated
			if ty.Delegated > 0 {
				delegatedTypes[ty.Type] += ty.Delegated
			}
			if ty.Unsupported > 0 {
				t.Errorf("%s: %d %s resources cannot run", c, ty.Unsupported, ty.Type)
			}
		}
		native, delegated, total = native+n, delegated+d, total+n+d
		p := tr.Parallelism
		rows = append(rows, fmt.Sprintf("| %s | %d | %d | %d | %s | %d | %d | %d |", c, n+d, n, d, percent(n, n+d),
			p.RelationshipsPath, p.CriticalPath, p.Orderings))
	}
	var types []string
	for ty, n := range delegatedTypes {
		types = append(types, fmt.Sprintf("%s %d", ty, n))
	}
	sort.Strings(types)
	summary := fmt.Sprintf("%d resources in %d catalogs: %d native (%.1f%%), %d run by Puppet (%s)",
		total, len(rows), native, 100*float64(native)/float64(max(total, 1)), delegated, strings.Join(types, ", "))
	t.Log(summary)
	if table := os.Getenv("CORPUS_TABLE"); table != "" {
		text := "| case | resources | native | run by Puppet | share native | longest chain, relationships | longest chain, with orderings | orderings |\n" +
			"|---|---|---|---|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n\n" + summary + "\n"
		if err := os.WriteFile(table, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func percent(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}
