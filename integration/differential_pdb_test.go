package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// pdbDifferential is the real PuppetDB and `mgmt-puppet puppetdb` given the same
// commands by real Puppet, to be asked the same queries.
type pdbDifferential struct {
	real      *realPuppetDB
	mgmtHTTP  string // mgmt-puppet's plain-HTTP address
	confdir   string // Puppet's, with puppetdb.conf broadcasting to both
	ssldir    string
	catalogs  map[string]string // node -> catalog file
	reportsIn int
}

// newPDBDifferential starts both and has real Puppet send them the commands of the
// seed scenario: facts and catalogs of nodes A, B and C (compiles), a report of each
// (puppet apply of its catalog, reports=puppetdb), and C's deactivation.
func newPDBDifferential(t *testing.T) *pdbDifferential {
	t.Helper()
	requirePuppet(t)
	requireFile(t, "/usr/lib/ruby/vendor_ruby/puppet/indirector/resource/puppetdb.rb", "puppet-terminus-puppetdb")
	requirePuppetCA(t)
	requireFile(t, "/usr/lib/python3/dist-packages/pypuppetdb/api.py", "python3-pypuppetdb")
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	puppetCA(t, "setup", site, "server")
	puppetCA(t, "generate", site, "compiler.example", "nodea.example", "nodeb.example", "nodec.example")
	ssldir := filepath.Join(site, "ssl")
	d := &pdbDifferential{real: startRealPuppetDB(t, ssldir, "server"), ssldir: ssldir, catalogs: map[string]string{}}
	d.mgmtHTTP = freeAddr(t)
	mgmt := startPuppetDB(t, ssldir, "http://"+freeAddr(t), "--http-listen", d.mgmtHTTP)
	conf := fmt.Sprintf("[main]\nserver_urls = https://%s,https://%s\ncommand_broadcast = true\nsoft_write_failure = false\n",
		d.real.https, mgmt.addr)
	pc := newCompilerConf(t, ssldir, conf, filepath.Join(moduleRoot(t), "fixtures", "exported", "site.pp"))
	pc.revocation = "chain"
	d.confdir = filepath.Join(pc.dir, "conf")
	for _, n := range []string{"nodea.example", "nodeb.example", "nodec.example"} {
		cat := pc.compile(n)
		d.real.waitCatalog(t, n, cat)
		f := filepath.Join(dir, n+".json")
		if err := os.WriteFile(f, cat, 0o644); err != nil {
			t.Fatal(err)
		}
		d.catalogs[n] = f
	}
	for _, n := range []string{"nodea.example", "nodeb.example", "nodec.example"} {
		d.apply(t, n)
	}
	d.waitReal(t, "/pdb/query/v4/reports", url.Values{"query": {`["extract",[["function","count"]]]`}}, `[{"count":3}]`)
	deactivate := exec.Command("puppet", "node", "deactivate", "nodec.example", "--confdir", d.confdir,
		"--vardir", filepath.Join(dir, "var"), "--ssldir", ssldir, "--certname", "compiler.example", "--color", "false")
	if out, err := deactivate.CombinedOutput(); err != nil {
		t.Fatalf("puppet node deactivate: %v\n%s", err, out)
	}
	d.waitReal(t, "/pdb/query/v4/nodes", url.Values{"query": {`["extract",[["function","count"]]]`}}, `[{"count":2}]`)
	return d
}

// apply runs puppet apply of node's catalog in its own mount namespace, sending
// its report to both servers.
func (d *pdbDifferential) apply(t *testing.T, node string) {
	t.Helper()
	if err := os.MkdirAll(placeholder, 0o755); err != nil {
		t.Fatal(err)
	}
	vardir := t.TempDir()
	script := "mount -t tmpfs tmpfs " + placeholder + ` && exec "$@"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
		"puppet", "apply", "--catalog", d.catalogs[node], "--reports", "puppetdb", "--confdir", d.confdir,
		"--vardir", vardir, "--ssldir", d.ssldir, "--certname", node, "--color", "false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("puppet apply of %s: %v\n%s", node, err, out)
	}
}

// waitReal waits until the real PuppetDB answers want (its commands are processed
// in the background).
func (d *pdbDifferential) waitReal(t *testing.T, path string, q url.Values, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, body := d.real.get(t, path, q)
		var v any
		if code == 200 && json.Unmarshal(body, &v) == nil && show(v) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the real PuppetDB answers %s %v with %d %s, not %s within a minute", path, q, code, body, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// ask sends a query to a plain-HTTP address and returns the status, X-Records and
// the body.
func ask(t *testing.T, addr, method, path string, q url.Values) (int, string, []byte) {
	t.Helper()
	var req *http.Request
	var err error
	if method == "POST" {
		body, _ := json.Marshal(map[string]any{"query": json.RawMessage(q.Get("query"))})
		if !json.Valid([]byte(q.Get("query"))) {
			body, _ = json.Marshal(map[string]any{"query": q.Get("query")})
		}
		req, err = http.NewRequest("POST", "http://"+addr+path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
	} else {
		u := "http://" + addr + path
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		req, err = http.NewRequest("GET", u, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Records"), b
}

// ignored are the fields PuppetDB fills from its own clock or hashes: not compared.
var ignored = map[string]bool{"receive_time": true, "catalog_timestamp": true, "facts_timestamp": true,
	"report_receive_time": true, "hash": true, "resource": true, "latest_report_hash": true, "report": true,
	"href": true, "timestamp": true}

// normal makes an answer comparable: ignored fields out, rows and the elements of
// "data" and "tags" sorted.
func normal(v any, key string) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if !ignored[k] {
				out[k] = normal(x, k)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normal(x, "")
		}
		if key == "" || key == "data" || key == "tags" {
			sort.Slice(out, func(i, j int) bool { return show(out[i]) < show(out[j]) })
		}
		return out
	}
	return v
}

// TestQueriesMatchRealPuppetDB asks the real PuppetDB 7.12.1 and mgmt-puppet the
// queries Puppetboard (through pypuppetdb), puppetdb_query and puppet's own
// commands send, over the same commands from real Puppet: every answer must be
// equal, up to order, hashes and the servers' receive times.
func TestQueriesMatchRealPuppetDB(t *testing.T) {
	d := newPDBDifferential(t)
	type query struct {
		name, method, path string
		params             url.Values
	}
	q := func(name, path string, kv ...string) query {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return query{name: name, method: "GET", path: path, params: v}
	}
	queries := []query{
		q("version", "/pdb/meta/v1/version"),
		q("environments", "/pdb/query/v4/environments"),
		q("nodes", "/pdb/query/v4/nodes"),
		q("node", "/pdb/query/v4/nodes/nodea.example"),
		q("deactivated node", "/pdb/query/v4/nodes/nodec.example"),
		q("unknown node", "/pdb/query/v4/nodes/nobody.example"),
		q("nodes in production", "/pdb/query/v4/nodes", "query", `["and",["=","catalog_environment","production"]]`),
		q("nodes changed", "/pdb/query/v4/nodes", "query", `["and",["=","catalog_environment","production"],["=","latest_report_status","changed"]]`),
		q("nodes unreported", "/pdb/query/v4/nodes", "query", `["or",["null?","report_timestamp",true],["<=","report_timestamp","2020-05-01T10:00:00"]]`),
		q("nodes any state", "/pdb/query/v4/nodes", "query", `["=","node_state","any"]`),
		q("nodes inactive", "/pdb/query/v4/nodes", "query", `["=","node_state","inactive"]`),
		q("node count", "/pdb/query/v4/nodes", "query", `["extract",[["function","count"]],["and",["=","catalog_environment","production"]]]`),
		q("nodes by kernel fact", "/pdb/query/v4/nodes", "query", `["=",["fact","kernel"],"Linux"]`),
		q("nodes certname only", "/pdb/query/v4/nodes", "query", `["extract",["certname"],["~","certname","^node[ab]"]]`),
		q("nodes paged", "/pdb/query/v4/nodes", "order_by", `[{"field":"certname","order":"desc"}]`, "limit", "1", "offset", "1", "include_total", "true"),
		q("resource count", "/pdb/query/v4/resources", "query", `["extract",[["function","count"]],["=","environment","production"]]`),
		q("resources of a type", "/pdb/query/v4/resources/File"),
		q("resources of a node", "/pdb/query/v4/resources", "query", `["=","certname","nodeb.example"]`),
		q("exported resources", "/pdb/query/v4/resources", "query", `["=","exported",true]`),
		q("resources by parameter", "/pdb/query/v4/resources", "query", `["=",["parameter","ensure"],"directory"]`),
		q("resources by tag", "/pdb/query/v4/resources", "query", `["and",["=","tag","seed"],["=","type","File"]]`),
		q("resources by line", "/pdb/query/v4/resources", "query", `["and",[">","line",10],["<=","line",20]]`),
		q("resources grouped", "/pdb/query/v4/resources", "query", `["extract",[["function","count"],"type"],["=","certname","nodea.example"],["group_by","type"]]`),
		q("facts of a node", "/pdb/query/v4/facts", "query", `["and",["=","certname","nodea.example"],["=","environment","production"]]`),
		q("a fact", "/pdb/query/v4/facts/kernel"),
		q("a fact's value", "/pdb/query/v4/facts/kernel/Linux"),
		q("facts of many names", "/pdb/query/v4/facts", "query", `["and",["or",["=","name","kernel"],["=","name","os"]],["=","environment","production"]]`),
		q("fact-names", "/pdb/query/v4/fact-names"),
		q("node facts (compiler)", "/pdb/query/v4/nodes/nodeb.example/facts"),
		q("reports of a node", "/pdb/query/v4/reports", "query", `["and",["=","environment","production"],["=","certname","nodea.example"]]`,
			"order_by", `[{"field":"end_time","order":"desc"}]`, "include_total", "true", "limit", "10", "offset", "0"),
		q("reports by status", "/pdb/query/v4/reports", "query", `["and",["=","status","changed"],["=","noop",false]]`),
		q("report counts by status", "/pdb/query/v4/reports", "query",
			`["extract",[["function","count"],"status"],["and",[">=","producer_timestamp","2020-05-01T00:00:00.000000Z"],["=","environment","production"]],["group_by","status"]]`),
		q("latest reports", "/pdb/query/v4/reports", "query", `["=","latest_report?",true]`),
		q("events of a node", "/pdb/query/v4/events", "query", `["=","certname","nodeb.example"]`),
		q("events of latest reports", "/pdb/query/v4/events", "query", `["and",["=","latest_report?",true],["=","status","success"]]`),
		q("catalog of a node", "/pdb/query/v4/catalogs/nodea.example"),
		q("catalogs", "/pdb/query/v4/catalogs", "query", `["=","certname","nodeb.example"]`),
		q("edges of a node", "/pdb/query/v4/edges", "query", `["=","certname","nodea.example"]`),
		q("nodes with a class (in/from)", "/pdb/query/v4/nodes", "query",
			`["in","certname",["from","resources",["extract",["certname"],["and",["=","type","Class"],["=","title","Settings"]]]]]`),
		q("nodes with a class (select)", "/pdb/query/v4/nodes", "query",
			`["in","certname",["extract","certname",["select_resources",["and",["=","type","Class"],["=","title","Settings"]]]]]`),
		q("nodes in an array", "/pdb/query/v4/nodes", "query", `["in","certname",["array",["nodea.example","nobody"]]]`),
		q("implicit subquery", "/pdb/query/v4/nodes", "query", `["subquery","resources",["=","type","Seed"]]`),
		q("root: nodes", "/pdb/query/v4", "query", `["from","nodes",["=","certname","nodea.example"]]`),
		q("catalog of a deactivated node", "/pdb/query/v4/catalogs/nodec.example"),
		q("catalogs of every node", "/pdb/query/v4/catalogs", "query", `["extract",["certname"]]`),
		q("root: reports, active nodes only", "/pdb/query/v4", "query", `["from","reports",["extract",["certname","status"]]]`),
		q("root: reports of any node", "/pdb/query/v4", "query", `["from","reports",["extract",["certname"],["=","node_state","any"]]]`),
		q("facts of inactive nodes", "/pdb/query/v4/facts", "query", `["and",["=","name","kernel"],["=","node_state","inactive"]]`),
		q("resources of any node", "/pdb/query/v4/resources", "query", `["extract",[["function","count"]],["=","node_state","any"]]`),
		q("events of active nodes", "/pdb/query/v4/events", "query", `["extract",["certname"],["and",["=","node_state","active"],["=","property","ensure"]]]`),
		q("root: resources ordered", "/pdb/query/v4", "query", `["from","resources",["=","type","File"],["order_by",[["title","desc"]]],["limit",3]]`),
		q("event-counts by node", "/pdb/query/v4/event-counts", "query", `["=","latest_report?",true]`, "summarize_by", "certname"),
		q("event-counts by resource", "/pdb/query/v4/event-counts", "query", `["=","certname","nodeb.example"]`, "summarize_by", "resource"),
		q("event-counts by class, filtered", "/pdb/query/v4/event-counts", "query", `["=","status","success"]`,
			"summarize_by", "containing_class", "count_by", "certname", "counts_filter", `[">","successes",0]`),
		q("PQL: nodes", "/pdb/query/v4", "query", `nodes { certname = "nodea.example" }`),
		q("PQL: nodes by regexp", "/pdb/query/v4", "query", `nodes[certname] { certname ~ "^node[ab]" }`),
		q("PQL: reports ordered", "/pdb/query/v4", "query", `reports[certname, status] { certname = "nodeb.example" order by producer_timestamp desc limit 10 }`),
		q("PQL: fact counts", "/pdb/query/v4", "query", `facts[name, count()] { certname ~ "^node" group by name }`),
		q("PQL: inventory", "/pdb/query/v4", "query", `inventory[certname, facts.os.family] { facts.kernel = "Linux" }`),
		q("PQL: class and active (operational dashboards)", "/pdb/query/v4", "query",
			`resources[certname] { type = "Class" and title = "main" and nodes { deactivated is null and expired is null } }`),
		q("PQL: parameters and not (peadm)", "/pdb/query/v4", "query",
			`resources[certname, title] { type = "File" and parameters.ensure = "directory" and !(certname = "nodea.example") }`),
		q("PQL: nodes with a fact", "/pdb/query/v4", "query", `nodes[certname] { facts { name = "kernel" and value = "Linux" } }`),
		q("PQL: certname in a subquery", "/pdb/query/v4", "query", `nodes[certname] { certname in facts[certname] { name = "os" } }`),
		q("PQL: exported resources count", "/pdb/query/v4", "query", `resources[count()] { exported = true }`),
		q("PQL: events by status", "/pdb/query/v4", "query", `events[certname, resource_title, status] { status = "success" and certname = "nodea.example" }`),
		q("PQL: syntax error", "/pdb/query/v4", "query", `nodes { certname = }`),
		{name: "puppetdb_query: POST PQL", method: "POST", path: "/pdb/query/v4",
			params: url.Values{"query": {`resources[certname, title] { type = "File" and exported = true }`}}},
		{name: "puppetdb_query: POST root", method: "POST", path: "/pdb/query/v4",
			params: url.Values{"query": {`["from","resources",["extract",["certname","title"],["and",["=","type","File"],["=","exported",true]]]]`}}},
	}
	t.Logf("%d queries", len(queries))
	agree := 0
	var table strings.Builder
	table.WriteString("| query | request | PuppetDB 7.12.1 | mgmt-puppet | agree |\n|---|---|---|---|---|\n")
	for _, c := range queries {
		rc, rTotal, rb := ask(t, d.real.http, c.method, c.path, c.params)
		mc, mTotal, mb := ask(t, d.mgmtHTTP, c.method, c.path, c.params)
		var rv, mv any
		rErr, mErr := json.Unmarshal(rb, &rv), json.Unmarshal(mb, &mv)
		ok := rc == mc && rTotal == mTotal && (rc != 200 || rErr == nil && mErr == nil && show(normal(rv, "")) == show(normal(mv, "")))
		fmt.Fprintf(&table, "| %s | %s | %s | %s | %s |\n", c.name, request(c.method, c.path, c.params), answer(rc, rv),
			answer(mc, mv), map[bool]string{true: "yes", false: "**no**"}[ok])
		switch {
		case rc != mc:
			t.Errorf("%s: real PuppetDB %d %s\nmgmt-puppet %d %s", c.name, rc, rb, mc, mb)
		case rTotal != mTotal:
			t.Errorf("%s: X-Records real %q, mgmt-puppet %q", c.name, rTotal, mTotal)
		case rc == 200 && (rErr != nil || mErr != nil):
			t.Errorf("%s: not JSON: real %v, mgmt-puppet %v", c.name, rErr, mErr)
		case rc == 200 && show(normal(rv, "")) != show(normal(mv, "")):
			r, m := show(normal(rv, "")), show(normal(mv, ""))
			i := 0
			for i < len(r) && i < len(m) && r[i] == m[i] {
				i++
			}
			from := max(0, i-300)
			t.Errorf("%s: answers differ at byte %d:\nreal PuppetDB ...%s\nmgmt-puppet   ...%s", c.name, i,
				r[from:min(len(r), i+300)], m[from:min(len(m), i+300)])
		default:
			agree++
		}
	}
	t.Logf("%d of %d queries agree with the real PuppetDB", agree, len(queries))
	if f := os.Getenv("PDB_DIFFERENTIAL_TABLE"); f != "" {
		fmt.Fprintf(&table, "\n%d of %d queries agree.\n", agree, len(queries))
		if err := os.WriteFile(f, []byte(table.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Debian's pypuppetdb (Puppetboard's client) reads the same from both.
	tour := func(addr string) string {
		host, port, _ := strings.Cut(addr, ":")
		out, err := exec.Command("/usr/bin/python3", filepath.Join(moduleRoot(t), "integration", "testdata", "pypuppetdb_tour.py"),
			host, port).CombinedOutput()
		if err != nil {
			t.Fatalf("pypuppetdb against %s: %v\n%s", addr, err, out)
		}
		return string(out)
	}
	if r, m := tour(d.real.http), tour(d.mgmtHTTP); r != m {
		t.Errorf("pypuppetdb reads from the real PuppetDB:\n%s\nfrom mgmt-puppet:\n%s", r, m)
	} else {
		t.Logf("pypuppetdb 2.2.0 reads the same from both (%d lines)", strings.Count(r, "\n"))
	}
}

// request shows a query for the table: the path and its parameters, the query
// shortened.
func request(method, path string, q url.Values) string {
	var parts []string
	for _, k := range []string{"query", "summarize_by", "count_by", "counts_filter", "order_by", "limit", "offset", "include_total"} {
		if v := q.Get(k); v != "" {
			if len(v) > 90 {
				v = v[:87] + "..."
			}
			parts = append(parts, k+"="+v)
		}
	}
	s := method + " " + path
	if len(parts) > 0 {
		s += " " + strings.Join(parts, " ")
	}
	return "`" + strings.ReplaceAll(s, "|", "\\|") + "`"
}

// answer shows an answer for the table: its status and how many rows.
func answer(code int, v any) string {
	switch v := v.(type) {
	case []any:
		return fmt.Sprintf("%d, %d rows", code, len(v))
	case map[string]any:
		return fmt.Sprintf("%d, one object", code)
	}
	return fmt.Sprint(code)
}
