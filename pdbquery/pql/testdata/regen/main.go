// Command regen records what a real PuppetDB answers to the PQL queries of
// queries.json with ast_only=true, into golden.json, for pql's
// TestParseMatchesPuppetDB. Run it through ../regen.sh.
//
// A case whose name starts with "invalid: " must be refused by PuppetDB,
// every other case must be accepted; regen fails otherwise, so that a
// query PuppetDB rejects for its meaning rather than its syntax (an
// unknown field, say) does not slip into the golden file.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// testCase is one entry of queries.json.
type testCase struct {
	Name  string `json:"name"`
	Query string `json:"query"`
}

// golden is one entry of golden.json: the case and PuppetDB's answer, the
// AST for status 200 and the error text otherwise.
type golden struct {
	Name   string          `json:"name"`
	Query  string          `json:"query"`
	Status int             `json:"status"`
	AST    json.RawMessage `json:"ast,omitempty"`
	Error  string          `json:"error,omitempty"`
}

func main() {
	base := flag.String("url", "http://127.0.0.1:28080", "PuppetDB's plain-HTTP base URL")
	in := flag.String("in", "testdata/queries.json", "the cases")
	out := flag.String("out", "testdata/golden.json", "the golden file to write")
	flag.Parse()
	if err := run(*base, *in, *out); err != nil {
		log.Fatalf("regen: %v", err)
	}
}

func run(base, in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var cases []testCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	var results []golden
	var wrong []string
	for _, c := range cases {
		g, err := ask(client, base, c)
		if err != nil {
			return fmt.Errorf("case %q: %w", c.Name, err)
		}
		if invalid := strings.HasPrefix(c.Name, "invalid: "); invalid != (g.Status != http.StatusOK) {
			wrong = append(wrong, fmt.Sprintf("%q: status %d %s", c.Name, g.Status, g.Error))
		}
		results = append(results, g)
	}
	if len(wrong) > 0 {
		return fmt.Errorf("PuppetDB's answers contradict the case names:\n%s", strings.Join(wrong, "\n"))
	}
	// One case a line keeps the file readable and its diffs small.
	var buf bytes.Buffer
	buf.WriteString("[\n")
	for i, g := range results {
		var line bytes.Buffer
		enc := json.NewEncoder(&line)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(g); err != nil {
			return err
		}
		buf.WriteString("  ")
		buf.Write(bytes.TrimSuffix(line.Bytes(), []byte("\n")))
		if i < len(results)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("]\n")
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// ask sends one query the way the brief of the package describes:
// GET /pdb/query/v4?query=PQL&ast_only=true.
func ask(client *http.Client, base string, c testCase) (golden, error) {
	q := url.Values{"query": {c.Query}, "ast_only": {"true"}}
	resp, err := client.Get(base + "/pdb/query/v4?" + q.Encode())
	if err != nil {
		return golden{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return golden{}, err
	}
	g := golden{Name: c.Name, Query: c.Query, Status: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		g.Error = strings.TrimSpace(string(body))
		return g, nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return golden{}, fmt.Errorf("AST is not JSON: %w", err)
	}
	g.AST = compact.Bytes()
	return g, nil
}
