package agent

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

func TestParseServerList(t *testing.T) {
	got := ParseServerList(" a.example.com:8141, b ,,c:", "8140")
	want := []Server{{"a.example.com", "8141"}, {"b", "8140"}, {"c", "8140"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// lines is a Logger that keeps its lines.
type lines []string

func (l *lines) Printf(level engine.Level, format string, args ...any) {
	*l = append(*l, level.String()+": "+fmt.Sprintf(format, args...))
}

// TestSelectServer: servers are asked in turn; one that refuses the connection
// and one that answers 503 are passed over with Puppet's warnings, a server that
// has only the old status path is asked there, and when none answers the last
// failure is an error.
func TestSelectServer(t *testing.T) {
	status := func(code int, paths ...string) *httptest.Server {
		s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, p := range paths {
				if r.URL.Path == p {
					w.WriteHeader(code)
					fmt.Fprint(w, "running")
					return
				}
			}
			http.NotFound(w, r)
		}))
		t.Cleanup(s.Close)
		return s
	}
	entry := func(s *httptest.Server) Server {
		host, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "https://"))
		return Server{host, port}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := Server{"127.0.0.1", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)}
	ln.Close()
	busy := entry(status(http.StatusServiceUnavailable, "/status/v1/simple/server"))
	old := entry(status(http.StatusOK, "/status/v1/simple/master"))
	good := entry(status(http.StatusOK, "/status/v1/simple/server"))
	conf := &tls.Config{InsecureSkipVerify: true}
	timings := regexp.MustCompile(`after [0-9.]+ seconds`)

	var log lines
	got, ok := SelectServer(t.Context(), []Server{refused, busy, old, good}, conf, DefaultHTTPOptions, &log)
	if !ok || got != old {
		t.Errorf("selected %v %v, want %v", got, ok, old)
	}
	want := []string{
		"Warning: Unable to connect to server from server_list setting: Request to https://" + refused.String() +
			"/status/v1/simple/server failed after N seconds: Failed to open TCP connection to " + refused.String() +
			" (Connection refused - connect(2) for " + refused.String() + ") Trying with next server from server_list.",
		"Warning: Puppet server " + busy.String() + " is unavailable: 503 Service Unavailable Trying with next server from server_list.",
	}
	for i := range log {
		log[i] = timings.ReplaceAllString(log[i], "after N seconds")
	}
	if !reflect.DeepEqual([]string(log), want) {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}

	log = nil
	if _, ok := SelectServer(t.Context(), []Server{busy, refused}, conf, DefaultHTTPOptions, &log); ok {
		t.Error("selected a server when none answers")
	}
	if len(log) != 2 || !strings.HasPrefix(log[0], "Warning: Puppet server") || !strings.HasPrefix(log[1], "Error: Unable to connect to server from server_list setting: ") ||
		strings.Contains(log[1], "Trying with next") {
		t.Errorf("logged %q: want a warning, then the last as an error", log)
	}
}
