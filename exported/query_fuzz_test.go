package exported

import (
	"errors"
	"testing"
	"time"
)

// FuzzParseQuery: whatever the bytes, ParseQuery returns within a second, without
// a panic, a query or a QueryError (HTTP 400) that says why; a query it returns
// can be matched against resources.
func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		``,
		`["and",["=","type","File"],["=","exported",true],["not",["=","certname","nodea.example"]],["=","tag","shared"]]`,
		`["or",["=","title","a"],["~","title","^b"]]`,
		`["=",["parameter","mode"],"0644"]`,
		`["=","line",12]`,
		`["~","title","("]`,
		`"resources {}"`,
		`[`,
		`["=","type","File"] []`,
		`[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]`,
		`["not"]`,
		`["and"]`,
		`[1,2]`,
		`{"a":1}`,
	} {
		f.Add([]byte(seed))
	}
	line, file := 3, "/etc/puppet/code/site.pp"
	resources := []*Resource{
		{Certname: "a.example", Type: "File", Title: "/tmp/x", Tags: []string{"file", "shared"}, Exported: true,
			Environment: "production", Parameters: map[string]any{"mode": "0644", "n": 1.0}, Line: &line, File: &file},
		{Certname: "b.example", Type: "Host", Title: "b", Parameters: map[string]any{}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			q, err := ParseQuery(data)
			if err != nil {
				var qe *QueryError
				if !errors.As(err, &qe) || qe.Msg == "" {
					t.Errorf("ParseQuery(%q): error %T %q, want a QueryError that says why", data, err, err)
				}
				return
			}
			for _, r := range resources {
				q.Match(r)
			}
			q.Certname()
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatalf("ParseQuery(%q) did not return within a second", data)
		}
	})
}
