package puppetdb

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
	"github.com/mgmt-puppet/mgmt-puppet/internal/testport"
)

func freeURL(t *testing.T) string {
	t.Helper()
	return testport.URL(t)
}

// serve runs the API over a real embedded etcd.
func serve(t *testing.T) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := exported.Embedded(ctx, exported.EmbeddedConfig{DataDir: t.TempDir(), ClientURL: freeURL(t), PeerURL: freeURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	srv := httptest.NewServer(Handler(e.Store(), nil))
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, method, u, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

func TestAPI(t *testing.T) {
	srv := serve(t)
	cmd := func(name, payload string) (int, string) {
		return call(t, "POST", srv.URL+"/pdb/cmd/v1?command="+name+"&version=9&certname=x", payload)
	}
	query := func(ast string) (int, string) {
		return call(t, "GET", srv.URL+"/pdb/query/v4/resources?query="+url.QueryEscape(ast), "")
	}
	catalog := `{"certname":"a.example","environment":"production","version":"1","resources":[
		{"type":"File","title":"/x","tags":["shared","file"],"exported":true,"parameters":{"ensure":"file"}},
		{"type":"File","title":"/local","tags":["file"],"exported":false,"parameters":{}}]}`
	for _, tc := range []struct {
		name       string
		do         func() (int, string)
		code       int
		wantInBody string
	}{
		{"replace_catalog", func() (int, string) { return cmd("replace_catalog", catalog) }, 200, `"uuid"`},
		{"collector query", func() (int, string) {
			return query(`["and",["=","type","File"],["=","exported",true],["not",["=","certname","b.example"]],["=","tag","shared"]]`)
		}, 200, `"title":"/x"`},
		{"not a collector's: all resources of the others", func() (int, string) {
			return query(`["and",["=","type","File"],["not",["=","certname","b.example"]],["=","title","/local"]]`)
		}, 200, `"title":"/local"`},
		{"a collector's query on the root endpoint", func() (int, string) {
			return call(t, "POST", srv.URL+"/pdb/query/v4",
				`{"query":["from","resources",["and",["=","type","File"],["=","exported",true],["not",["=","certname","c.example"]]]]}`)
		}, 200, `"title":"/x"`},
		{"own exports left out", func() (int, string) {
			return query(`["and",["=","type","File"],["not",["=","certname","a.example"]]]`)
		}, 200, `[]`},
		{"unknown operator", func() (int, string) { return query(`["<<","line",3]`) }, 400, `unknown query operator`},
		{"PQL on an entity endpoint", func() (int, string) { return query(`"resources {}"`) }, 400, `PQL`},
		{"PQL", func() (int, string) {
			return call(t, "GET", srv.URL+"/pdb/query/v4?query="+url.QueryEscape(`resources[certname, title] { title = "/x" }`), "")
		}, 200, `"title":"/x"`},
		{"PQL that does not parse", func() (int, string) {
			return call(t, "GET", srv.URL+"/pdb/query/v4?query="+url.QueryEscape(`resources { title = }`), "")
		}, 400, `line 1`},
		{"unknown command", func() (int, string) { return cmd("replace_everything", `{}`) }, 400, `unsupported command`},
		{"bad payload", func() (int, string) { return cmd("replace_catalog", `{`) }, 400, `replace_catalog`},
		{"a catalog without a certname", func() (int, string) {
			return cmd("replace_catalog", `{"resources":[{"type":"File","title":"/y","exported":true}]}`)
		}, 400, `replace_catalog: certname`},
		{"an export twice", func() (int, string) {
			return cmd("replace_catalog", `{"certname":"c.example","resources":[{"type":"File","title":"/y","exported":true},{"type":"File","title":"/y","exported":true}]}`)
		}, 400, `resources[1]: File[/y] exported twice`},
		{"an export without a title", func() (int, string) {
			return cmd("replace_catalog", `{"certname":"c.example","resources":[{"type":"File","exported":true}]}`)
		}, 400, `resources[0]: an exported resource needs a type and a title`},
		{"facts of a/b", func() (int, string) { return cmd("replace_facts", `{"certname":"a/b","values":{}}`) }, 400, `replace_facts: certname`},
		{"a catalog with edges the queries cannot read", func() (int, string) {
			return cmd("replace_catalog", `{"certname":"c.example","resources":[],"edges":[{"source":"x"}]}`)
		}, 400, `replace_catalog: catalog`},
		{"facts that are not an object", func() (int, string) { return cmd("replace_facts", `{"certname":"c.example","values":"x"}`) },
			400, `want an object of facts`},
		{"a report with logs the queries cannot read", func() (int, string) {
			return cmd("store_report", `{"certname":"a.example","status":"changed","environment":"production","producer_timestamp":"2026-12-01T10:00:01.000+01:00","start_time":"2026-12-01T10:00:00.000+01:00","end_time":"2026-12-01T10:00:01.000+01:00","puppet_version":"7.23.0","report_format":12,"configuration_version":"1","transaction_uuid":"u","noop":false,"logs":[1]}`)
		}, 400, `store_report: report`},
		{"refused commands stored nothing", func() (int, string) { return query(`["=","title","/y"]`) }, 200, `[]`},
		{"the catalogs still answer", func() (int, string) { return call(t, "GET", srv.URL+"/pdb/query/v4/catalogs", "") }, 200, `"certname":"a.example"`},
		{"facts unknown", func() (int, string) { return call(t, "GET", srv.URL+"/pdb/query/v4/nodes/a.example/facts", "") },
			404, `No information is known about node a.example`},
		{"replace_facts", func() (int, string) {
			return cmd("replace_facts", `{"certname":"a.example","environment":"production","values":{"kernel":"Linux"}}`)
		}, 200, `"uuid"`},
		{"facts known", func() (int, string) { return call(t, "GET", srv.URL+"/pdb/query/v4/nodes/a.example/facts", "") },
			200, `"name":"kernel","value":"Linux"`},
		{"root query", func() (int, string) {
			return call(t, "POST", srv.URL+"/pdb/query/v4", `{"query":["from","resources",["=","title","/x"]]}`)
		}, 200, `"certname":"a.example"`},
		{"store_report", func() (int, string) {
			return cmd("store_report", `{"certname":"a.example","status":"changed","environment":"production","producer_timestamp":"2026-12-01T10:00:01.000+01:00","start_time":"2026-12-01T10:00:00.000+01:00","end_time":"2026-12-01T10:00:01.000+01:00","puppet_version":"7.23.0","report_format":12,"configuration_version":"1","transaction_uuid":"u","noop":false}`)
		}, 200, `"uuid"`},
		{"deactivate_node", func() (int, string) {
			return cmd("deactivate_node", `{"certname":"a.example","producer_timestamp":"2026-11-30T12:00:00.000Z"}`)
		}, 200, `"uuid"`},
		{"deactivated exports gone", func() (int, string) { return query(`["=","type","File"]`) }, 200, `[]`},
	} {
		code, body := tc.do()
		if code != tc.code || !strings.Contains(body, tc.wantInBody) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.code, tc.wantInBody)
		}
		if code >= 400 {
			var e map[string]string
			if json.Unmarshal([]byte(body), &e) != nil || e["error"] == "" {
				t.Errorf("%s: error body %q is not {\"error\": ...}", tc.name, body)
			}
		}
	}
}
