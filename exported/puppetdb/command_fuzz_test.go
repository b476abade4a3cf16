package puppetdb

import (
	"net/url"
	"testing"
	"time"
)

var commandNames = map[string]bool{"replace_catalog": true, "replace_facts": true, "deactivate_node": true, "store_report": true}

// FuzzDecodeCommand: whatever the name and the body, decoding returns within a
// second, without a panic, a supported command or an error (HTTP 400) that says
// why.
func FuzzDecodeCommand(f *testing.F) {
	seeds := []struct{ name, body string }{
		{"replace_catalog", `{"certname":"a.example","version":"1","environment":"production","producer_timestamp":"2026-12-01T00:00:00.000Z","resources":[{"type":"File","title":"/tmp/x","tags":["file"],"exported":true,"parameters":{"ensure":"file"}}]}`},
		{"replace catalog", `{"certname":"a.example","resources":[{"type":"File","title":"/tmp/x","exported":true},{"type":"File","title":"/tmp/x","exported":true}]}`},
		{"replace_facts", `{"certname":"a.example","environment":"production","values":{"os":{"family":"Debian"}}}`},
		{"deactivate_node", `{"certname":"a.example","producer_timestamp":"2026-12-01T00:00:00Z"}`},
		{"store_report", `{"certname":"a.example","status":"changed","environment":"production","producer_timestamp":"2026-12-01T10:00:01.000+01:00","start_time":"2026-12-01T10:00:00.000+01:00","end_time":"2026-12-01T10:00:01.000+01:00","puppet_version":"7.23.0","report_format":12,"configuration_version":"1","transaction_uuid":"u","noop":false}`},
		{"", `{"command":"replace facts","version":5,"payload":{"certname":"b","values":{}}}`},
		{"", `{"command":"replace_catalog","version":9,"payload":[]}`},
		{"replace_catalog", `{"certname":"a/b"}`},
		{"replace_catalog", `null`},
		{"store_report", `"x"`},
		{"drop_database", `{}`},
		{"", ``},
		{"", `{`},
	}
	for _, s := range seeds {
		f.Add(s.name, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		q := url.Values{}
		if name != "" {
			q.Set("command", name)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c, err := decodeCommand(q, body)
			if err != nil {
				if err.Error() == "" {
					t.Errorf("decodeCommand(%q, %q): an error that says nothing", name, body)
				}
				return
			}
			if !commandNames[c.name] || c.store == nil {
				t.Errorf("decodeCommand(%q, %q) = command %q", name, body, c.name)
			}
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatalf("decodeCommand(%q, %q) did not return within a second", name, body)
		}
	})
}
