package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestCompareAgrees runs `mgmt-puppet compare` (real puppet apply --noop beside
// mgmt-puppet's noop) on fixture catalogs: on an empty root, and on a root that
// mgmt-puppet applied and that then drifted. Both tools must agree on every
// resource and property, and neither may change anything.
func TestCompareAgrees(t *testing.T) {
	requirePuppet(t)
	bin := binary(t)
	type out struct {
		Agree       bool  `json:"agree"`
		Resources   int   `json:"resources"`
		OutOfSync   int   `json:"out_of_sync"`
		Differences []any `json:"differences"`
	}
	compareJSON := func(t *testing.T, catalog string) out {
		t.Helper()
		r := runCommand(t, bin, "compare", "--json", catalog)
		var o out
		if err := json.Unmarshal([]byte(r.out), &o); err != nil {
			t.Fatalf("exit %d, output is not JSON: %v\n%s", r.code, err, r.out)
		}
		if r.code != 0 || !o.Agree {
			t.Fatalf("exit %d, want 0 (agree):\n%s", r.code, r.out)
		}
		return o
	}
	for _, name := range []string{"basic", "refresh", "failure", "stages", "noopmeta"} {
		t.Run(name+"/empty", func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			o := compareJSON(t, fixtureCatalog(t, name, root))
			if o.OutOfSync == 0 {
				t.Errorf("nothing out of sync on an empty root: %+v", o)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("compare changed the root: %d entries", len(entries))
			}
		})
	}
	t.Run("refresh/drifted", func(t *testing.T) {
		root := t.TempDir()
		catalog := fixtureCatalog(t, "refresh", root)
		if r := runCommand(t, bin, "run", catalog); r.code != 0 {
			t.Fatalf("apply: exit %d\n%s", r.code, r.out)
		}
		base := filepath.Join(root, "refresh")
		if err := os.WriteFile(filepath.Join(base, "a.conf"), []byte("drift\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(base, "conf.d", "one.conf")); err != nil {
			t.Fatal(err)
		}
		o := compareJSON(t, catalog)
		if o.OutOfSync < 2 {
			t.Errorf("drift not seen: %+v", o)
		}
		if got, _ := os.ReadFile(filepath.Join(base, "a.conf")); string(got) != "drift\n" {
			t.Errorf("compare repaired a.conf: %q", got)
		}
	})
	t.Run("text", func(t *testing.T) {
		r := runCommand(t, bin, "compare", fixtureCatalog(t, "basic", t.TempDir()))
		if r.code != 0 || !regexpMatch(`(?m)^AGREE: 9 resources, 8 out of sync; puppet took [0-9.]+ s, mgmt-puppet [0-9.]+ s$`, r.out) {
			t.Errorf("exit %d:\n%s", r.code, r.out)
		}
	})
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
