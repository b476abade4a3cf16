package puppetlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

// fileDest is a log file as Puppet's file destination (Puppet::Util::Log's
// :file type) writes it: a line per message, "2026-12-04 01:36:16 +0000 Puppet
// (notice): Applied catalog in 0.02 seconds", the source being the resource's
// path or Puppet; for a name ending in .json, a JSON array of the messages (which
// Puppet never closes), and for .jsonl, a JSON object per line.
type fileDest struct {
	path string
	f    *os.File
	// json: 0 for text; 1 for a JSON array whose next entry is its first, 2 when
	// entries are there already (the next one is preceded by a comma).
	json  int
	jsonl bool
}

// openFile opens path as Puppet's file destination does: its directory made
// when missing (created says so, for the "Creating log directory" line), the file
// appended to, and a JSON array started in an empty .json file.
func openFile(path string) (d *fileDest, created bool, err error) {
	d = &fileDest{path: path, jsonl: strings.HasSuffix(path, ".jsonl")}
	if strings.HasSuffix(path, ".json") {
		d.json = 1
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, false, err
		}
		created = true
	}
	return d, created, d.open()
}

func (d *fileDest) open() error {
	startArray := false
	if d.json > 0 {
		d.json = 1
		st, err := os.Stat(d.path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			startArray = true
		case err != nil:
			return err
		default:
			startArray = st.Size() == 0
			if st.Size() > 2 { // entries were written: the next one needs a comma
				d.json = 2
			}
		}
	}
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if startArray {
		if _, err := f.WriteString("[\n"); err != nil {
			f.Close()
			return err
		}
	}
	d.f = f
	return nil
}

// reopen closes the file and opens it again (SIGUSR2: after logrotate moved it).
func (d *fileDest) reopen() error {
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
	return d.open()
}

func (d *fileDest) close() error {
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}

// levelNames are Puppet's names of the levels (Puppet::Util::Log's levels).
var levelNames = map[engine.Level]string{
	engine.Debug:   "debug",
	engine.Info:    "info",
	engine.Notice:  "notice",
	engine.Warning: "warning",
	engine.Err:     "err",
}

// write appends line, logged at t, as Puppet's file destination would.
func (d *fileDest) write(line Line, t time.Time) {
	if d.f == nil {
		return
	}
	source := line.Source
	if source == "" {
		source = "Puppet"
	}
	level := levelNames[line.Level]
	var b bytes.Buffer
	if d.json == 0 && !d.jsonl {
		// Ruby's Time#to_s, then puts: no second newline after a message that
		// ends with one.
		b.WriteString(t.Format("2006-01-02 15:04:05 -0700") + " " + source + " (" + level + "): " + line.Message)
		if !strings.HasSuffix(line.Message, "\n") {
			b.WriteByte('\n')
		}
		_, _ = d.f.Write(b.Bytes())
		return
	}
	if d.json == 2 {
		b.WriteString(",\n")
	} else if d.json == 1 {
		d.json = 2
	}
	// Log#to_structured_hash, in its order: level, message, source, tags, time,
	// and the manifest's file and line when the message is about a resource.
	tags := []string{level}
	var file string
	var lineNo int
	if line.Vertex != nil {
		if m, ok := line.Vertex.Data.(*translate.Meta); ok {
			tags = append(tags, m.ResourceTags...)
			file, lineNo = m.File, m.Line
		}
	}
	b.WriteString(`{"level":`)
	writeJSON(&b, level)
	b.WriteString(`,"message":`)
	writeJSON(&b, line.Message)
	b.WriteString(`,"source":`)
	writeJSON(&b, source)
	b.WriteString(`,"tags":`)
	writeJSON(&b, tags)
	b.WriteString(`,"time":`)
	writeJSON(&b, t.Format("2006-01-02T15:04:05.000000000-07:00")) // Ruby's Time#iso8601(9)
	if file != "" {
		b.WriteString(`,"file":`)
		writeJSON(&b, file)
	}
	if lineNo > 0 {
		b.WriteString(`,"line":`)
		writeJSON(&b, lineNo)
	}
	b.WriteString("}\n")
	_, _ = d.f.Write(b.Bytes())
}

// writeJSON writes v as Ruby's JSON.generate would: <, > and & as they are.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(&trimNewline{w: w})
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// trimNewline drops the newline json.Encoder ends each value with.
type trimNewline struct{ w io.Writer }

func (t *trimNewline) Write(p []byte) (int, error) {
	_, err := t.w.Write(bytes.TrimSuffix(p, []byte("\n")))
	return len(p), err
}
