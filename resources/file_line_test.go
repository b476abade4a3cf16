package resources

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFileLine applies file_line cases from stdlib's provider: each starts from a
// file's content, expects the content after apply and whether a change was due,
// then a second CheckApply that must find everything in sync.
func TestFileLine(t *testing.T) {
	created := "created"
	removed := "removed"
	for _, tc := range []struct {
		name    string
		l       FileLine
		before  string
		after   string
		change  string // "" for in sync
		wantErr string
	}{
		{name: "append", l: FileLine{Line: "c"}, before: "a\nb\n", after: "a\nb\nc\n", change: created},
		{name: "append after a last line without newline", l: FileLine{Line: "b"}, before: "a", after: "a\nb\n", change: created},
		{name: "present", l: FileLine{Line: "b"}, before: "a\nb\n", after: "a\nb\n"},
		{name: "whitespace counts", l: FileLine{Line: "b"}, before: "a\n b\n", after: "a\n b\nb\n", change: created},
		{name: "match replaces", l: FileLine{Line: "x=5", Match: "^x="}, before: "x=1\ny=2\n", after: "x=5\ny=2\n", change: created},
		{name: "match at line end", l: FileLine{Line: "port 80", Match: "^port \\d+$"}, before: "a\nport 22\n", after: "a\nport 80\n", change: created},
		{name: "match nothing appends", l: FileLine{Line: "x=5", Match: "^x="}, before: "y=2\n", after: "y=2\nx=5\n", change: created},
		{name: "match nothing, no append", l: FileLine{Line: "x=5", Match: "^x=", AppendOnNoMatch: false}, before: "y=2\n", after: "y=2\n"},
		{name: "match twice", l: FileLine{Line: "x=5", Match: "^x="}, before: "x=1\nx=2\n", after: "x=1\nx=2\n", change: created,
			wantErr: "More than one line in file"},
		{name: "match twice, multiple", l: FileLine{Line: "x=5", Match: "^x=", Multiple: true}, before: "x=1\nx=2\n", after: "x=5\nx=5\n", change: created},
		{name: "no replace", l: FileLine{Line: "x=5", Match: "^x=", Replace: false}, before: "x=1\n", after: "x=1\n"},
		{name: "after", l: FileLine{Line: "k=v", After: "^\\[s\\]$"}, before: "a\n[s]\nb\n", after: "a\n[s]\nk=v\nb\n", change: created},
		{name: "absent", l: FileLine{Line: "a", Absent: true}, before: "a\nb\na\n", after: "b\n", change: removed},
		{name: "absent already", l: FileLine{Line: "z", Absent: true}, before: "a\n", after: "a\n"},
		{name: "absent by match", l: FileLine{Match: "^b", MatchForAbsence: true, Absent: true}, before: "a\nb1\n", after: "a\n", change: removed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, []byte(tc.before), 0o640); err != nil {
				t.Fatal(err)
			}
			l := tc.l
			l.Path = path
			if !strings.Contains(tc.name, "no replace") {
				l.Replace = true
			}
			if !strings.Contains(tc.name, "no append") {
				l.AppendOnNoMatch = true
			}
			if err := l.Validate(); err != nil {
				t.Fatal(err)
			}
			h := newFileHandle()
			_ = l.Init(h)
			ok, err := l.CheckApply(context.Background(), true)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			changes := h.take()
			if tc.change == "" {
				if !ok || len(changes) != 0 {
					t.Errorf("in sync expected: ok %v changes %v", ok, changes)
				}
			} else if ok || len(changes) != 1 || changes[0].Message != tc.change {
				t.Errorf("ok %v changes %v, want one %q", ok, changes, tc.change)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tc.after {
				t.Errorf("content %q, want %q", got, tc.after)
			}
			if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want 0640 kept", info.Mode().Perm())
			}
			if tc.wantErr != "" {
				return
			}
			if ok, err := l.CheckApply(context.Background(), true); !ok || err != nil || len(h.take()) != 0 {
				t.Errorf("second run: ok %v err %v, want in sync", ok, err)
			}
		})
	}
}

func TestFileLineMissingFile(t *testing.T) {
	l := FileLine{Path: filepath.Join(t.TempDir(), "missing"), Line: "a", Replace: true, AppendOnNoMatch: true}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	h := newFileHandle()
	_ = l.Init(h)
	// noop: the provider reads no lines and reports the change.
	if ok, err := l.CheckApply(context.Background(), false); ok || err != nil || len(h.take()) != 1 {
		t.Errorf("noop: ok %v err %v", ok, err)
	}
	if _, err := l.CheckApply(context.Background(), true); err == nil || !strings.Contains(err.Error(), "No such file or directory") {
		t.Errorf("apply: err %v, want Ruby's ENOENT message", err)
	}
}

func TestFileLineValidate(t *testing.T) {
	for _, tc := range []struct {
		l    FileLine
		want string
	}{
		{FileLine{Path: "rel", Line: "a"}, "fully qualified"},
		{FileLine{Path: "/f"}, "line is a required attribute"},
		{FileLine{Path: "/f", Line: "a", ReplaceAllNotMatching: true, Replace: true}, "multiple must be true"},
		{FileLine{Path: "/f", Line: "a", Match: "(?<=x)y"}, "not supported"},
	} {
		if err := tc.l.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.l, err, tc.want)
		}
	}
}
