package resources

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// diffTemp is the name of the new content's temporary file, as Ruby's Tempfile
// makes them.
var diffTemp = regexp.MustCompile(`/puppet-file\d{8}-\d+-[0-9a-z]+`)

// diffTime is a file's time in diff -u's header lines.
var diffTime = regexp.MustCompile(`\t\d{4}-\d\d-\d\d [0-9:.]+ [+-]\d{4}`)

// TestShowDiff: a File whose content changes logs diff -u of the old file and
// the new content (Puppet's show_diff), in noop too, before the change is told;
// sensitive content logs "[diff redacted]", content that is not text Puppet's
// sentence; nothing when show_diff is off or the file does not exist yet.
func TestShowDiff(t *testing.T) {
	for _, tc := range []struct {
		name      string
		old       *string // nil: no file
		content   string
		sensitive bool
		show      bool
		want      string // the logged lines, the temp name and the times replaced
	}{
		{name: "text", old: ptr("a\nb\nc\n"), content: "a\nB\nc\n", show: true,
			want: "Notice: content: \n--- PATH\tT\n+++ TEMP\tT\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{name: "sensitive", old: ptr("x\n"), content: "secret\n", sensitive: true, show: true,
			want: "Notice: content: [diff redacted]"},
		{name: "binary", old: ptr("bin\x00\xff\n"), content: "text\n", show: true,
			want: "Notice: content: \nBinary files PATH and TEMP differ\n"},
		{name: "show_diff off", old: ptr("x\n"), content: "y\n"},
		{name: "absent", content: "new\n", show: true},
		{name: "in sync", old: ptr("same\n"), content: "same\n", show: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			if tc.old != nil {
				if err := os.WriteFile(p, []byte(*tc.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, apply := range []bool{false, true} {
				if apply && tc.old != nil {
					os.WriteFile(p, []byte(*tc.old), 0o644)
				}
				f := &File{Path: p, Ensure: "file", Content: ptr(tc.content), ContentSensitive: tc.sensitive, Replace: true, ShowDiff: true}
				f.SetShowDiff(tc.show)
				h := newFileHandle()
				f.Init(h)
				if _, err := f.CheckApply(t.Context(), apply); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, l := range h.logs {
					l = strings.ReplaceAll(l, p, "PATH")
					l = strings.ReplaceAll(diffTemp.ReplaceAllString(l, "/TEMP"), os.TempDir()+"/TEMP", "TEMP")
					got = append(got, diffTime.ReplaceAllString(l, "\tT"))
				}
				if strings.Join(got, "|") != tc.want {
					t.Errorf("apply %v: logged %q, want %q", apply, got, tc.want)
				}
				data, _ := os.ReadFile(p)
				if apply && string(data) != tc.content {
					t.Errorf("content %q after apply, want %q", data, tc.content)
				}
			}
			left, _ := filepath.Glob(filepath.Join(os.TempDir(), "puppet-file*-*"))
			for _, l := range left {
				if strings.Contains(l, "-"+strconv.Itoa(os.Getpid())+"-") {
					t.Errorf("temporary file %s left", l)
				}
			}
		})
	}
}
