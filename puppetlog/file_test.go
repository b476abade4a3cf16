package puppetlog

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

// TestFileDestinations logs the lines of a real `puppet apply` run
// (testdata/capture.sh) to a text, a .json and a .jsonl file, at the times
// Puppet logged them: each file must be byte for byte what Puppet wrote.
func TestFileDestinations(t *testing.T) {
	levels := map[string]engine.Level{"debug": engine.Debug, "info": engine.Info, "notice": engine.Notice, "warning": engine.Warning, "err": engine.Err}
	type entry struct {
		Level, Message, Source, Time, File string
		Tags                               []string
		Line                               int
	}
	f, err := os.Open("testdata/puppet-apply.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []entry
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	if len(entries) < 5 {
		t.Fatalf("%d entries in the capture", len(entries))
	}
	dir := t.TempDir()
	dests := []string{filepath.Join(dir, "logs", "a.log"), filepath.Join(dir, "logs", "a.json"), filepath.Join(dir, "logs", "a.jsonl")}
	l, made, err := Open(dests, nil, "", engine.Debug, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 1 || made[0] != filepath.Join(dir, "logs") {
		t.Errorf("directories made: %v", made)
	}
	for _, e := range entries {
		at, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil {
			t.Fatal(err)
		}
		l.now = func() time.Time { return at }
		line := Line{Level: levels[e.Level], Message: e.Message}
		if e.Source != "Puppet" {
			line.Source = e.Source
			line.Vertex = &engine.Vertex{Data: &translate.Meta{ResourceTags: e.Tags[1:], File: e.File, Line: e.Line}}
		}
		l.write(line)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for i, golden := range []string{"puppet-apply.log", "puppet-apply.json", "puppet-apply.jsonl"} {
		want, _ := os.ReadFile(filepath.Join("testdata", golden))
		got, _ := os.ReadFile(dests[i])
		if string(got) != string(want) {
			t.Errorf("%s:\ngot:\n%s\nwant (puppet apply's):\n%s", golden, got, want)
		}
	}
}

// TestFileReopen: after the file is moved away (logrotate) and the logger is
// reopened, lines go to a new file at the path; a .json file that has entries
// already gets a comma before the next, and an empty one starts an array.
func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	text, js := filepath.Join(dir, "puppet.log"), filepath.Join(dir, "puppet.json")
	l, made, err := Open([]string{text, js, text}, nil, "", engine.Info, false)
	if err != nil || len(made) != 0 {
		t.Fatal(err, made)
	}
	at := time.Date(2026, 12, 4, 1, 2, 3, 4, time.FixedZone("", 3600))
	l.now = func() time.Time { return at }
	l.Printf(engine.Notice, "one")
	l.Printf(engine.Debug, "not at this level")
	os.Rename(text, text+".1")
	os.Rename(js, js+".1")
	os.WriteFile(js, []byte(`[`+"\n"+`{"level":"notice"}`+"\n"), 0o644) // entries already
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Printf(engine.Err, "two\nlines\n")
	l.Close()
	for file, want := range map[string]string{
		text + ".1": "2026-12-04 01:02:03 +0100 Puppet (notice): one\n",
		text:        "2026-12-04 01:02:03 +0100 Puppet (err): two\nlines\n",
		js + ".1":   "[\n" + `{"level":"notice","message":"one","source":"Puppet","tags":["notice"],"time":"2026-12-04T01:02:03.000000004+01:00"}` + "\n",
		js: "[\n" + `{"level":"notice"}` + "\n,\n" +
			`{"level":"err","message":"two\nlines\n","source":"Puppet","tags":["err"],"time":"2026-12-04T01:02:03.000000004+01:00"}` + "\n",
	} {
		got, _ := os.ReadFile(file)
		if string(got) != want {
			t.Errorf("%s: got %q, want %q", filepath.Base(file), got, want)
		}
	}
	if _, _, err := Open([]string{"eventlog"}, nil, "", engine.Info, false); err == nil || !strings.Contains(err.Error(), "Unknown destination type eventlog") {
		t.Errorf("an unknown destination: %v", err)
	}
}
