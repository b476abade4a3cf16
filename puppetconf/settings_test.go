package puppetconf

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		section   string
		overrides map[string]string
		want      string
	}{
		// Puppet rejects each of these values when it reads it, one at a time
		// (`puppet config print --section agent NAME` with the line alone):
		// "Certificate names must be lower case", "Invalid duration format '\"3q\"'",
		// "Invalid value '\"yes\"' for boolean parameter", "Cannot convert '\"20x\"' to
		// an integer", "Value '70000' is not a valid port number", "Invalid value 'dsa'
		// for parameter key_type", "Could not find value for $nosuch", "Invalid duration
		// format '\"unlimited\"'", "Invalid certificate revocation value maybe", "Invalid
		// 'time to live' format '\"-5\"'", "Could not find value for $ca_fingerprint",
		// "user nosuchuser doesn't exist", and dies without a message on the loop.
		// [server] is not the agent's: its bad runinterval is not read.
		{name: "values", file: "testdata/values.conf", section: "agent", want: `
testdata/values.conf:3: certname "Node1.Example.com": certificate names must be lower case
testdata/values.conf:5: runinterval "3q": not a duration (30m, 1h, 2d, 1y, 10s or seconds)
testdata/values.conf:6: noop "yes": not a boolean (true or false)
testdata/values.conf:7: keylength "20x": not an integer
testdata/values.conf:8: ca_port "70000": not a port number (0 to 65535)
testdata/values.conf:9: key_type "dsa": not one of rsa, ec
testdata/values.conf:10: server "$nosuch/x": unknown setting $nosuch
testdata/values.conf:11: waitforcert "unlimited": not a duration (30m, 1h, 2d, 1y, 10s or seconds)
testdata/values.conf:12: certificate_revocation "maybe": not chain, leaf, true or false
testdata/values.conf:13: maxwaitforcert "-5": not a duration or unlimited
testdata/values.conf:14: report_server "$ca_fingerprint": $ca_fingerprint has no value
testdata/values.conf:15: vardir "~nosuchuser/var": no user nosuchuser
testdata/values.conf:16: http_proxy_host "$http_proxy_user": loop: $http_proxy_host -> $http_proxy_user -> $http_proxy_host`},
		// Puppet stops at the first of these ("Could not match line ... (file: ...,
		// line: 1)", "Invalid file option 'color'", "File modes must be numbers",
		// "Could not parse '${runinterval}'", "Could not parse '/bin/sh -c 'echo {x}''",
		// "Illegal section 'bogus'"), logs it, and runs with the defaults.
		{name: "syntax", file: "testdata/syntax.conf", section: "agent", want: `
testdata/syntax.conf:1: cannot parse line "; Puppet's comments start with #, not ;"
testdata/syntax.conf:4: cannot parse line "this is not a setting"
testdata/syntax.conf:5: cannot parse line "my-setting = dashes are not word characters"
testdata/syntax.conf:7: ssldir "/x {owner = root, color = red}": invalid file option "color": not owner, group or mode
testdata/syntax.conf:8: ssldir "/x {mode = rwx}": file mode "rwx": not a number
testdata/syntax.conf:9: splaylimit "${runinterval}": puppet.conf reads {runinterval} as file metadata: write $runinterval
testdata/syntax.conf:10: prerun_command "/bin/sh -c 'echo {x}'": cannot parse "{x}": file metadata is {owner = ..., group = ..., mode = ...}
testdata/syntax.conf:11: section [bogus]: not one of main, server, master, agent, user`},
		// A loop through a default (statedir's users) is blamed on its first line.
		{name: "loop", file: "testdata/loop.conf", section: "agent", want: `
testdata/loop.conf:2: ca_server "ca-$report_server": loop: $ca_server -> $report_server -> $statedir -> $ca_server`},
		{name: "unknown on the command line", file: "testdata/missing.conf", section: "agent",
			overrides: map[string]string{"log_level": "debug", "runinterval": "3q", "nosuch": "x"}, want: `
command line: unknown setting "log_level"
command line: unknown setting "nosuch"`},
		// The command line's values come before the file's.
		{name: "bad on the command line", file: "testdata/agent.conf", section: "agent",
			overrides: map[string]string{"runinterval": "3q", "certname": "Node1", "keylength": "x"}, want: `
command line: certname "Node1": certificate names must be lower case
command line: keylength "x": not an integer
command line: runinterval "3q": not a duration (30m, 1h, 2d, 1y, 10s or seconds)`},
		// "Cannot specify both the node_name_value and node_name_fact settings".
		{name: "node name", file: "testdata/missing.conf", section: "agent",
			overrides: map[string]string{"node_name_fact": "fqdn", "node_name_value": "x"}, want: `
command line: node_name_fact "fqdn": cannot be set with node_name_value`},
		{name: "section", file: "testdata/missing.conf", section: "device", want: `
section "device": not one of main, server, master, agent, user`},
		{name: "unreadable", file: "testdata", section: "agent", want: `
read testdata: is a directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := load(tt.file, tt.section, tt.overrides, true, fakeHost("/root", false))
			if err == nil {
				t.Fatalf("no error; server = %q", s.String("server"))
			}
			if got, want := err.Error(), strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestLoadReal reads with the real host; certname is given, so no DNS is asked.
func TestLoadReal(t *testing.T) {
	s, err := Load("testdata/missing.conf", "agent", map[string]string{"certname": "node.test"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String("hostcert"), "/var/lib/puppet/ssl/certs/node.test.pem"; got != want {
		t.Errorf("hostcert = %q, want %q", got, want)
	}
}

func TestGetters(t *testing.T) {
	s, err := load("testdata/agent.conf", "agent", nil, true, fakeHost("/root", false))
	if err != nil {
		t.Fatal(err)
	}
	durations := []struct {
		name string
		want time.Duration
	}{
		{"runinterval", time.Hour},               // 1h in [agent] over 10m in [main]
		{"splaylimit", time.Hour},                // $runinterval
		{"maxwaitforcert", 365 * 24 * time.Hour}, // 1y
		{"maxwaitforlock", Unlimited},            // unlimited
		{"crl_refresh_interval", Unlimited},      // no value: never refreshed
		{"waitforlock", 0},
		{"http_read_timeout", 10 * time.Minute},
		{"statettl", 32 * 24 * time.Hour},
	}
	for _, tt := range durations {
		if got, err := s.Duration(tt.name); err != nil || got != tt.want {
			t.Errorf("Duration(%q) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	bools := []struct {
		name string
		want bool
	}{
		{"noop", true},               // TRUE in [main]
		{"usecacheonfailure", false}, // 'false', quoted
		{"splay", false},
		{"report", true},
	}
	for _, tt := range bools {
		if got, err := s.Bool(tt.name); err != nil || got != tt.want {
			t.Errorf("Bool(%q) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	ints := []struct {
		name string
		want int
	}{
		{"keylength", 2048},  // 0x800
		{"masterport", 8150}, // [main]
		{"serverport", 8160}, // [agent]
		{"ca_port", 8160},    // $serverport
		{"http_proxy_port", 3128},
	}
	for _, tt := range ints {
		if got, err := s.Int(tt.name); err != nil || got != tt.want {
			t.Errorf("Int(%q) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	lists := []struct {
		name string
		want []string
	}{
		{"tags", []string{"a", "b", "c"}}, // "a, b ,,c"
		{"skip_tags", []string{"x", "Y"}},
		{"dns_alt_names", []string{"puppet", "puppet.example.com"}},
		{"server_list", []string{"a.example.com:8141", "b.example.com"}},
		{"http_extra_headers", nil},
	}
	for _, tt := range lists {
		if got := s.List(tt.name); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("List(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestGettersOfAnotherKind reads settings as what they are not.
func TestGettersOfAnotherKind(t *testing.T) {
	s, err := load("testdata/missing.conf", "agent", nil, true, fakeHost("/root", false))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		read func() error
		want string
	}{
		{"Bool", func() error { _, err := s.Bool("server"); return err }, `server "puppet": not a boolean (true or false)`},
		{"Duration", func() error { _, err := s.Duration("server"); return err }, `server "puppet": not a duration (30m, 1h, 2d, 1y, 10s or seconds)`},
		{"Int", func() error { _, err := s.Int("noop"); return err }, `noop "false": not an integer`},
	}
	for _, tt := range tests {
		if err := tt.read(); err == nil || err.Error() != tt.want {
			t.Errorf("%s: error %v, want %s", tt.name, err, tt.want)
		}
	}
}

func TestUnknownSettingPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("String of an unknown setting did not panic")
		}
	}()
	s, err := load("testdata/missing.conf", "agent", nil, true, fakeHost("/root", false))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.String("notasetting") // in agent.conf, ignored there as by Puppet
}

func TestDefaultCertname(t *testing.T) {
	noCNAME := func(string) (string, error) { return "", errors.New("no such host") }
	cname := func(c string) func(string) (string, error) {
		return func(string) (string, error) { return c, nil }
	}
	tests := []struct {
		name       string
		hostname   string
		canonical  func(string) (string, error)
		resolvConf string
		want       string
	}{
		{"fqdn hostname", "Web1.Example.COM", noCNAME, "search other.test\n", "web1.example.com"},
		{"canonical name", "web1", cname("web1.example.com."), "search other.test\n", "web1.example.com"},
		{"canonical name of another host", "web1", cname("lb.example.com."), "search other.test\n", "web1.other.test"},
		{"canonical name is the host", "vm", cname("vm."), "", "vm"},
		{"resolv.conf domain before search", "vm", noCNAME, "search s.test t.test\ndomain d.test\n", "vm.d.test"},
		{"resolv.conf first search domain", "vm", noCNAME, "nameserver 10.0.0.1\nsearch s.test t.test\n", "vm.s.test"},
		{"nothing", "vm", noCNAME, "nameserver 10.0.0.1\n", "vm"},
		{"trailing dot", "vm.", noCNAME, "", "vm"},
	}
	for _, tt := range tests {
		if got := defaultCertname(hostNames(tt.hostname, tt.canonical, []byte(tt.resolvConf))); got != tt.want {
			t.Errorf("%s: defaultCertname(%q) = %q, want %q", tt.name, tt.hostname, got, tt.want)
		}
	}
}

// TestGiven: a setting is given when the command line or the sections read set it
// (or its alias), not when its default, interpolated or not, gives its value.
func TestGiven(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/puppet.conf"
	if err := os.WriteFile(file, []byte("[main]\nreport_server = reports.example.com\n[server]\nca_server = ca.example.com\n[agent]\nmasterport = 8141\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := load(file, "agent", map[string]string{"server_list": "a:8140,b"}, true, fakeHost("/root", false))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"server_list": true, "report_server": true, "serverport": true, // alias masterport
		"ca_server": false, // [server] is not the agent's
		"server":    false, "vardir": false,
	} {
		if got := set.Given(name); got != want {
			t.Errorf("Given(%s) = %v, want %v", name, got, want)
		}
	}
}

// TestSRVDomain: srv_domain defaults to the host's domain when use_srv_records is
// on; otherwise the host's names are not asked for it (they may take DNS), and
// with certname given, not at all.
func TestSRVDomain(t *testing.T) {
	for _, tt := range []struct {
		overrides map[string]string
		want      string
		asks      int
	}{
		{map[string]string{"certname": "n.test"}, "", 0},
		{map[string]string{"certname": "n.test", "use_srv_records": "true"}, "site.test", 1},
		{map[string]string{"use_srv_records": "true"}, "site.test", 1}, // certname's default asks too: once a load
		{map[string]string{"use_srv_records": "true", "srv_domain": "other.test"}, "other.test", 1},
	} {
		asks := 0
		h := fakeHost("/root", false)
		h.names = func() (string, string, error) { asks++; return "vm", "site.test", nil }
		s, err := load("testdata/missing.conf", "agent", tt.overrides, true, h)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.String("srv_domain"); got != tt.want || asks != tt.asks {
			t.Errorf("%v: srv_domain %q after %d asks, want %q after %d", tt.overrides, got, asks, tt.want, tt.asks)
		}
	}
}
