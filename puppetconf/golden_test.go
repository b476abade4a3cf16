package puppetconf

import (
	"reflect"
	"strings"
	"testing"
)

// The expectations in this file are what `puppet config print` printed for the
// settings this package knows: Debian 12's puppet 7.23.0 on a host named vm, with
// no domain in its name, /etc/hosts or resolv.conf, run from /tmp, HOME=/root.
// fakeHost is that machine.
func fakeHost(home string, ownsSystemSSL bool) host {
	return host{
		home:          func() (string, error) { return home, nil },
		cwd:           func() (string, error) { return "/tmp", nil },
		names:         func() (string, string, error) { return "vm", "", nil },
		ownsSystemSSL: func() bool { return ownsSystemSSL },
	}
}

// rootDefaults: `puppet config print --section agent` as root, with Debian's
// /etc/puppet/puppet.conf (comments only).
const rootDefaults = `
agent_catalog_run_lockfile = /var/cache/puppet/state/agent_catalog_run.lock
agent_disabled_lockfile = /var/cache/puppet/state/agent_disabled.lock
ca_fingerprint = 
ca_port = 8140
ca_server = puppet
certdir = /var/lib/puppet/ssl/certs
certificate_revocation = chain
certname = vm
classfile = /var/cache/puppet/state/classes.txt
client_datadir = /var/cache/puppet/client_data
clientbucketdir = /var/cache/puppet/clientbucket
clientyamldir = /var/cache/puppet/client_yaml
codedir = /etc/puppet/code
environmentpath = /etc/puppet/code/environments
confdir = /etc/puppet
config = /etc/puppet/puppet.conf
config_file_name = puppet.conf
crl_refresh_interval = 
csr_attributes = /etc/puppet/csr_attributes.yaml
daemonize = true
digest_algorithm = sha256
disable_i18n = true
dns_alt_names = 
environment = production
factpath = /var/cache/puppet/lib/facter:/var/cache/puppet/facts
filetimeout = 15
logdest = 
hostcert = /var/lib/puppet/ssl/certs/vm.pem
hostcrl = /var/lib/puppet/ssl/crl.pem
hostcsr = /var/lib/puppet/ssl/certificate_requests/vm.pem
hostprivkey = /var/lib/puppet/ssl/private_keys/vm.pem
hostpubkey = /var/lib/puppet/ssl/public_keys/vm.pem
http_connect_timeout = 120
http_extra_headers = []
http_keepalive_timeout = 4
http_proxy_host = none
http_proxy_password = none
http_proxy_port = 3128
http_proxy_user = none
http_read_timeout = 600
ignore_plugin_errors = false
include_legacy_facts = true
key_type = rsa
keylength = 4096
lastrunfile = /var/cache/puppet/public/last_run_summary.yaml
lastrunreport = /var/cache/puppet/state/last_run_report.yaml
libdir = /var/cache/puppet/lib
localcacert = /var/lib/puppet/ssl/certs/ca.pem
localedest = /var/cache/puppet/locales
localesource = puppet:///locales
logdir = /var/log/puppet
masterport = 8140
maxwaitforcert = unlimited
maxwaitforlock = 60
named_curve = prime256v1
no_proxy = localhost, 127.0.0.1
node_name_fact = 
node_name_value = vm
noop = false
onetime = false
pidfile = /run/puppet/agent.pid
plugindest = /var/cache/puppet/lib
pluginfactdest = /var/cache/puppet/facts.d
pluginfactsource = puppet:///pluginfacts
pluginsignore = .svn CVS .git .hg
pluginsource = puppet:///plugins
pluginsync = true
postrun_command = 
preferred_serialization_format = json
prerun_command = 
privatekeydir = /var/lib/puppet/ssl/private_keys
publicdir = /var/cache/puppet/public
publickeydir = /var/lib/puppet/ssl/public_keys
report = true
report_port = 8140
report_server = puppet
requestdir = /var/lib/puppet/ssl/certificate_requests
resourcefile = /var/cache/puppet/state/resources.txt
resubmit_facts = false
rich_data = true
rundir = /run/puppet
runinterval = 1800
runtimeout = 3600
server = puppet
server_list = 
srv_domain = 
use_srv_records = false
serverport = 8140
show_diff = false
skip_tags = 
splay = false
splaylimit = 1800
ssl_lockfile = /var/lib/puppet/ssl/ssl.lock
ssldir = /var/lib/puppet/ssl
privatedir = /var/lib/puppet/ssl/private
passfile = /var/lib/puppet/ssl/private/password
statedir = /var/cache/puppet/state
statefile = /var/cache/puppet/state/state.yaml
statettl = 2764800
strict_environment_mode = false
supported_checksum_types = ["sha256", "sha384", "sha512", "sha224", "md5"]
tags = 
transactionstorefile = /var/cache/puppet/state/transactionstore.yaml
use_cached_catalog = false
use_last_environment = true
usecacheonfailure = true
vardir = /var/cache/puppet
waitforcert = 120
waitforlock = 0
`

// nonRootDefaults: the same as user nobody with HOME=/home/agent (who does not own
// /var/lib/puppet/ssl).
const nonRootDefaults = `
agent_catalog_run_lockfile = /home/agent/.puppet/cache/state/agent_catalog_run.lock
agent_disabled_lockfile = /home/agent/.puppet/cache/state/agent_disabled.lock
ca_fingerprint = 
ca_port = 8140
ca_server = puppet
certdir = /home/agent/.puppet/etc/ssl/certs
certificate_revocation = chain
certname = vm
classfile = /home/agent/.puppet/cache/state/classes.txt
client_datadir = /home/agent/.puppet/cache/client_data
clientbucketdir = /home/agent/.puppet/cache/clientbucket
clientyamldir = /home/agent/.puppet/cache/client_yaml
codedir = /home/agent/.puppet/code
environmentpath = /home/agent/.puppet/code/environments
confdir = /home/agent/.puppet/etc
config = /home/agent/.puppet/etc/puppet.conf
config_file_name = puppet.conf
crl_refresh_interval = 
csr_attributes = /home/agent/.puppet/etc/csr_attributes.yaml
daemonize = true
digest_algorithm = sha256
disable_i18n = true
dns_alt_names = 
environment = production
factpath = /home/agent/.puppet/cache/lib/facter:/home/agent/.puppet/cache/facts
filetimeout = 15
logdest = 
hostcert = /home/agent/.puppet/etc/ssl/certs/vm.pem
hostcrl = /home/agent/.puppet/etc/ssl/crl.pem
hostcsr = /home/agent/.puppet/etc/ssl/certificate_requests/vm.pem
hostprivkey = /home/agent/.puppet/etc/ssl/private_keys/vm.pem
hostpubkey = /home/agent/.puppet/etc/ssl/public_keys/vm.pem
http_connect_timeout = 120
http_extra_headers = []
http_keepalive_timeout = 4
http_proxy_host = none
http_proxy_password = none
http_proxy_port = 3128
http_proxy_user = none
http_read_timeout = 600
ignore_plugin_errors = false
include_legacy_facts = true
key_type = rsa
keylength = 4096
lastrunfile = /home/agent/.puppet/cache/public/last_run_summary.yaml
lastrunreport = /home/agent/.puppet/cache/state/last_run_report.yaml
libdir = /home/agent/.puppet/cache/lib
localcacert = /home/agent/.puppet/etc/ssl/certs/ca.pem
localedest = /home/agent/.puppet/cache/locales
localesource = puppet:///locales
logdir = /home/agent/.puppet/var/log
masterport = 8140
maxwaitforcert = unlimited
maxwaitforlock = 60
named_curve = prime256v1
no_proxy = localhost, 127.0.0.1
node_name_fact = 
node_name_value = vm
noop = false
onetime = false
pidfile = /home/agent/.puppet/var/run/agent.pid
plugindest = /home/agent/.puppet/cache/lib
pluginfactdest = /home/agent/.puppet/cache/facts.d
pluginfactsource = puppet:///pluginfacts
pluginsignore = .svn CVS .git .hg
pluginsource = puppet:///plugins
pluginsync = true
postrun_command = 
preferred_serialization_format = json
prerun_command = 
privatekeydir = /home/agent/.puppet/etc/ssl/private_keys
publicdir = /home/agent/.puppet/cache/public
publickeydir = /home/agent/.puppet/etc/ssl/public_keys
report = true
report_port = 8140
report_server = puppet
requestdir = /home/agent/.puppet/etc/ssl/certificate_requests
resourcefile = /home/agent/.puppet/cache/state/resources.txt
resubmit_facts = false
rich_data = true
rundir = /home/agent/.puppet/var/run
runinterval = 1800
runtimeout = 3600
server = puppet
server_list = 
srv_domain = 
use_srv_records = false
serverport = 8140
show_diff = false
skip_tags = 
splay = false
splaylimit = 1800
ssl_lockfile = /home/agent/.puppet/etc/ssl/ssl.lock
ssldir = /home/agent/.puppet/etc/ssl
privatedir = /home/agent/.puppet/etc/ssl/private
passfile = /home/agent/.puppet/etc/ssl/private/password
statedir = /home/agent/.puppet/cache/state
statefile = /home/agent/.puppet/cache/state/state.yaml
statettl = 2764800
strict_environment_mode = false
supported_checksum_types = ["sha256", "sha384", "sha512", "sha224", "md5"]
tags = 
transactionstorefile = /home/agent/.puppet/cache/state/transactionstore.yaml
use_cached_catalog = false
use_last_environment = true
usecacheonfailure = true
vardir = /home/agent/.puppet/cache
waitforcert = 120
waitforlock = 0
`

// agentConf: `puppet config print --config testdata/agent.conf --section agent`
// as root.
const agentConf = `
agent_catalog_run_lockfile = locks/run.lock
agent_disabled_lockfile = /srv/pv/state/agent_disabled.lock
ca_fingerprint = AA:BB
ca_port = 8160
ca_server = ca.agent.example.com
certdir = /srv/pv/ssl/certs
certificate_revocation = chain
certname = node1.example.com
classfile = /srv/pv/state/classes.txt
client_datadir = /srv/pv/client_data
clientbucketdir = /srv/pv/clientbucket
clientyamldir = /srv/pv/client_yaml
codedir = /etc/puppet/code
environmentpath = /etc/puppet/code/environments
confdir = /etc/puppet
# config: --config made it the file; Load leaves it $confdir/puppet.conf, as Puppet
# does when the file comes from --confdir.
config = /etc/puppet/puppet.conf
config_file_name = puppet.conf
crl_refresh_interval = 
csr_attributes = /etc/puppet/csr_attributes.yaml
daemonize = true
digest_algorithm = sha256
disable_i18n = true
dns_alt_names = puppet, puppet.example.com
environment = agentenv
factpath = /tmp/lib:/a/b:/root/facts
filetimeout = 15
logdest = 
hostcert = /srv/pv/ssl/certs/node1.example.com.pem
hostcrl = /srv/pv/ssl/crl.pem
hostcsr = /srv/pv/ssl/certificate_requests/node1.example.com.pem
hostprivkey = /srv/pv/ssl/private_keys/node1.example.com.pem
hostpubkey = /srv/pv/ssl/public_keys/node1.example.com.pem
http_connect_timeout = 120
http_extra_headers = []
http_keepalive_timeout = 4
http_proxy_host = none
http_proxy_password = none
http_proxy_port = 3128
http_proxy_user = proxy # not a comment
http_read_timeout = 600
ignore_plugin_errors = false
include_legacy_facts = true
key_type = rsa
keylength = 2048
lastrunfile = /root/public/last_run_summary.yaml
lastrunreport = /srv/pv/state/last_run_report.yaml
libdir = /srv/pv/lib
localcacert = /srv/pv/ssl/certs/ca.pem
localedest = /srv/pv/locales
localesource = puppet:///locales
logdir = /tmp/relative/log
masterport = 8150
maxwaitforcert = 31536000
maxwaitforlock = unlimited
named_curve = $environment
no_proxy = localhost, 127.0.0.1
node_name_fact = 
node_name_value = node1.example.com-x
noop = true
onetime = false
pidfile = /run/puppet/agent.pid
plugindest = /srv/pv/lib
pluginfactdest = /srv/pv/facts.d
pluginfactsource = puppet:///pluginfacts
pluginsignore = .svn CVS .git .hg
pluginsource = puppet:///plugins
pluginsync = true
postrun_command = /bin/echo done
preferred_serialization_format = json
prerun_command = /usr/bin/env FOO=bar baz
privatekeydir = /srv/pv/ssl/private_keys
publicdir = /root/public
publickeydir = /srv/pv/ssl/public_keys
report = true
report_port = 8160
report_server = reports.example.com
requestdir = /srv/pv/ssl/certificate_requests
resourcefile = /srv/pv/state/resources.txt
resubmit_facts = false
rich_data = true
rundir = /run/puppet
runinterval = 3600
runtimeout = 3600
server = agent.example.com
server_list = a.example.com:8141 , b.example.com
srv_domain = 
use_srv_records = false
serverport = 8160
show_diff = false
skip_tags = x,Y
splay = false
splaylimit = 3600
ssl_lockfile = /srv/pv/ssl/ssl.lock
ssldir = /srv/pv/ssl
privatedir = /srv/pv/ssl/private
passfile = /srv/pv/ssl/private/password
statedir = /srv/pv/state
statefile = /srv/pv/state/state.yaml
statettl = 2764800
strict_environment_mode = false
supported_checksum_types = ["sha256", "sha384", "sha512", "sha224", "md5"]
tags = a, b ,,c
transactionstorefile = /srv/pv/state/transactionstore.yaml
use_cached_catalog = false
use_last_environment = true
usecacheonfailure = false
vardir = /srv/pv
waitforcert = 120
waitforlock = 0
`

// overridden: `puppet config print --config testdata/agent.conf --section agent
// --server cli.example.com --serverport 9000 --no-noop --vardir /cli/var
// --runinterval 2h --ca_server 'ca-${server}' --tags '"one,two"' --usecacheonfailure`.
const overridden = `
ca_port = 9000
ca_server = ca-cli.example.com
hostcert = /cli/var/ssl/certs/node1.example.com.pem
lastrunreport = /cli/var/state/last_run_report.yaml
masterport = 8150
noop = false
report_port = 9000
report_server = reports.example.com
runinterval = 7200
server = cli.example.com
serverport = 9000
splaylimit = 7200
statedir = /cli/var/state
tags = one,two
usecacheonfailure = true
vardir = /cli/var
`

// mainConf, userConf, serverConf: `puppet config print --config testdata/agent.conf`
// with --section main, user and server.
const mainConf = `
ca_server = early.example.com
environment = mainenv
masterport = 8150
noop = true
pidfile = /run/puppet/main.pid
runinterval = 600
server = early.example.com
serverport = 8150
skip_tags = 
splaylimit = 600
ssldir = /var/lib/puppet/ssl
vardir = /srv/pv
`

const userConf = `
environment = mainenv
pidfile = /run/puppet/user.pid
runinterval = 600
server = user.example.com
`

const serverConf = `
ca_port = 9999
ca_server = master.example.com
environment = mainenv
pidfile = /run/puppet/server.pid
runinterval = 300
server = master.example.com
`

// corners: `puppet config print --config testdata/corners.conf --section agent`.
const corners = `
ca_port = 9001
certificate_revocation = leaf
certname = web.example.com
factpath = /tmp:/tmp/a:/tmp:/tmp/b
lastrunreport = /q/v/t/last_run_report.yaml
logdir = /tmp
masterport = 9000
maxwaitforcert = 0
node_name_value = /x/certs/web.example.com.pem
noop = false
postrun_command = x y
prerun_command = foo  bar
report_server = web.example.com.9001
server = aagent
serverport = 9001
ssldir = /x
privatedir = /x/private
passfile = /x/private/password
statedir = /q/v/t
vardir = /q/v
`

// printed reads `puppet config print` lines (name = value); # lines are notes.
func printed(t *testing.T, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " = ")
		if !ok {
			name, ok = strings.CutSuffix(line, " =") // an empty value
		}
		if !ok {
			t.Fatalf("not a setting line: %q", line)
		}
		out[name] = value
	}
	return out
}

// rubyArray reads the inspect form Puppet prints an array setting in: ["a", "b"].
func rubyArray(v string) []string {
	v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	var items []string
	for _, item := range strings.Split(v, ", ") {
		if item != "" {
			items = append(items, strings.Trim(item, `"`))
		}
	}
	return items
}

func TestLoadAsPuppetConfigPrint(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		section   string
		overrides map[string]string
		root      bool
		host      host
		want      string
		all       bool // want holds every setting
	}{
		{name: "root defaults", file: "testdata/missing.conf", section: "agent", root: true, host: fakeHost("/root", false), want: rootDefaults, all: true},
		{name: "non-root defaults", file: "testdata/missing.conf", section: "agent", host: fakeHost("/home/agent", false), want: nonRootDefaults, all: true},
		{name: "main and agent", file: "testdata/agent.conf", section: "agent", root: true, host: fakeHost("/root", false), want: agentConf, all: true},
		{name: "overrides", file: "testdata/agent.conf", section: "agent", root: true, host: fakeHost("/root", false), want: overridden,
			overrides: map[string]string{"server": "cli.example.com", "serverport": "9000", "noop": "false", "vardir": "/cli/var",
				"runinterval": "2h", "ca_server": "ca-${server}", "tags": `"one,two"`, "usecacheonfailure": "true"}},
		{name: "corners", file: "testdata/corners.conf", section: "agent", root: true, host: fakeHost("/root", false), want: corners},
		{name: "main", file: "testdata/agent.conf", section: "main", root: true, host: fakeHost("/root", false), want: mainConf},
		{name: "user", file: "testdata/agent.conf", section: "user", root: true, host: fakeHost("/root", false), want: userConf},
		{name: "server", file: "testdata/agent.conf", section: "server", root: true, host: fakeHost("/root", false), want: serverConf},
		// `puppet config print --section agent ssldir hostcert confdir vardir` as user
		// puppet, who owns /var/lib/puppet/ssl, with HOME=/tmp/pc/home2.
		{name: "non-root owning the ssldir", file: "testdata/missing.conf", section: "agent", host: fakeHost("/tmp/pc/home2", true), want: `
confdir = /tmp/pc/home2/.puppet/etc
hostcert = /var/lib/puppet/ssl/certs/vm.pem
ssldir = /var/lib/puppet/ssl
vardir = /tmp/pc/home2/.puppet/cache
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := load(tt.file, tt.section, tt.overrides, tt.root, tt.host)
			if err != nil {
				t.Fatal(err)
			}
			want := printed(t, tt.want)
			if tt.all {
				for name := range settings {
					if _, ok := want[name]; !ok {
						t.Errorf("%s: not in the expectations", name)
					}
				}
			}
			for name, w := range want {
				if strings.HasPrefix(w, "[") {
					if got := s.List(name); !reflect.DeepEqual(got, rubyArray(w)) {
						t.Errorf("List(%q) = %q, want %q", name, got, rubyArray(w))
					}
					continue
				}
				if got := s.String(name); got != w {
					t.Errorf("String(%q) = %q, want %q", name, got, w)
				}
			}
		})
	}
}
