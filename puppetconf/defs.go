package puppetconf

// kind is how a setting's value is read and checked, after Puppet's setting types
// (lib/puppet/settings/*_setting.rb).
type kind int

const (
	kindString     kind = iota // as written
	kindPath                   // :file, :directory: made absolute as File.expand_path does
	kindPathList               // :path: colon-separated paths, each made absolute
	kindBool                   // true or false
	kindInt                    // Ruby's Integer(): 42, 0x2a, 052, 0b101010, 4_2
	kindPort                   // an integer from 0 to 65535
	kindDuration               // 30m, 1h, 2d, 1y, 10s, or seconds
	kindTTL                    // a duration, or unlimited
	kindList                   // :array, :server_list: comma-separated, kept as written
	kindEnum                   // one of a few words
	kindRevocation             // certificate_revocation: chain (or true), leaf or false
)

// setting is one of Puppet's settings as defaults.rb defines it.
type setting struct {
	kind   kind
	def    string   // default; may refer to other settings as $name or ${name}
	none   bool     // no default at all (Ruby's nil): String gives "", $name fails
	alias  string   // the setting whose value this one takes when it is not set itself
	values []string // the words a kindEnum takes
}

// runModeDirs are the settings whose defaults come from the run mode, root or not
// (lib/puppet/util/run_mode.rb, Debian's paths); certname's comes from the host.
var runModeDirs = map[string][2]string{ // name: {root, non-root}
	"confdir":   {"/etc/puppet", "~/.puppet/etc"},
	"codedir":   {"/etc/puppet/code", "~/.puppet/code"},
	"vardir":    {"/var/cache/puppet", "~/.puppet/cache"},
	"publicdir": {"/var/cache/puppet/public", "~/.puppet/cache/public"},
	"rundir":    {"/run/puppet", "~/.puppet/var/run"},
	"logdir":    {"/var/log/puppet", "~/.puppet/var/log"},
	"ssldir":    {systemSSLDir, "$confdir/ssl"}, // non-root: see defaultOf
}

// systemSSLDir is Debian's ssldir for root, and for a user who owns it.
const systemSSLDir = "/var/lib/puppet/ssl"

// settings are the settings an agent run reads, with Puppet 7.23's defaults
// (lib/puppet/defaults.rb).
var settings = map[string]setting{
	// Directories and files; the run mode's defaults are in runModeDirs.
	"confdir":                    {kind: kindPath},
	"codedir":                    {kind: kindPath},
	"environmentpath":            {kind: kindPathList, def: "$codedir/environments"},
	"vardir":                     {kind: kindPath},
	"publicdir":                  {kind: kindPath},
	"rundir":                     {kind: kindPath},
	"logdir":                     {kind: kindPath},
	"ssldir":                     {kind: kindPath},
	"config_file_name":           {def: "puppet.conf"},
	"config":                     {kind: kindPath, def: "$confdir/${config_file_name}"},
	"pidfile":                    {kind: kindPath, def: "$rundir/${run_mode}.pid"},
	"statedir":                   {kind: kindPath, def: "$vardir/state"},
	"statefile":                  {kind: kindPath, def: "$statedir/state.yaml"},
	"statettl":                   {kind: kindTTL, def: "32d"},
	"transactionstorefile":       {kind: kindPath, def: "$statedir/transactionstore.yaml"},
	"classfile":                  {kind: kindPath, def: "$statedir/classes.txt"},
	"resourcefile":               {kind: kindPath, def: "$statedir/resources.txt"},
	"lastrunfile":                {kind: kindPath, def: "$publicdir/last_run_summary.yaml"},
	"lastrunreport":              {kind: kindPath, def: "$statedir/last_run_report.yaml"},
	"agent_catalog_run_lockfile": {def: "$statedir/agent_catalog_run.lock"}, // a string in Puppet: not made absolute
	"agent_disabled_lockfile":    {def: "$statedir/agent_disabled.lock"},
	"client_datadir":             {kind: kindPath, def: "$vardir/client_data"},
	"clientyamldir":              {kind: kindPath, def: "$vardir/client_yaml"},
	"clientbucketdir":            {kind: kindPath, def: "$vardir/clientbucket"},
	"libdir":                     {kind: kindPath, def: "$vardir/lib"},
	"factpath":                   {kind: kindPathList, def: "$vardir/lib/facter:$vardir/facts"},
	"filetimeout":                {kind: kindDuration, def: "15s"},
	"logdest":                    {}, // console, syslog or files, comma-separated (see puppetlog.Open)

	// Pluginsync.
	"pluginsync":           {kind: kindBool, def: "true"},
	"plugindest":           {kind: kindPath, def: "$libdir"},
	"pluginsource":         {def: "puppet:///plugins"},
	"pluginfactdest":       {kind: kindPath, def: "$vardir/facts.d"},
	"pluginfactsource":     {def: "puppet:///pluginfacts"},
	"localedest":           {kind: kindPath, def: "$vardir/locales"},
	"localesource":         {def: "puppet:///locales"},
	"pluginsignore":        {def: ".svn CVS .git .hg"}, // space-separated
	"ignore_plugin_errors": {kind: kindBool, def: "false"},
	"disable_i18n":         {kind: kindBool, def: "true"},

	// SSL.
	"certname":               {}, // default: the host's name, see defaultCertname
	"certdir":                {kind: kindPath, def: "$ssldir/certs"},
	"privatekeydir":          {kind: kindPath, def: "$ssldir/private_keys"},
	"publickeydir":           {kind: kindPath, def: "$ssldir/public_keys"},
	"requestdir":             {kind: kindPath, def: "$ssldir/certificate_requests"},
	"localcacert":            {kind: kindPath, def: "$certdir/ca.pem"},
	"hostcrl":                {kind: kindPath, def: "$ssldir/crl.pem"},
	"hostcert":               {kind: kindPath, def: "$certdir/$certname.pem"},
	"hostprivkey":            {kind: kindPath, def: "$privatekeydir/$certname.pem"},
	"hostpubkey":             {kind: kindPath, def: "$publickeydir/$certname.pem"},
	"hostcsr":                {kind: kindPath, def: "$requestdir/$certname.pem"},
	"ssl_lockfile":           {def: "$ssldir/ssl.lock"},
	"csr_attributes":         {kind: kindPath, def: "$confdir/csr_attributes.yaml"},
	"privatedir":             {kind: kindPath, def: "$ssldir/private"},
	"passfile":               {kind: kindPath, def: "$privatedir/password"},
	"certificate_revocation": {kind: kindRevocation, def: "chain"},
	"crl_refresh_interval":   {kind: kindDuration, none: true},
	"ca_fingerprint":         {none: true},
	"keylength":              {kind: kindInt, def: "4096"},
	"key_type":               {kind: kindEnum, def: "rsa", values: []string{"rsa", "ec"}},
	"named_curve":            {def: "prime256v1"},
	"dns_alt_names":          {},
	"digest_algorithm":       {kind: kindEnum, def: "sha256", values: []string{"sha256", "sha384", "sha512", "sha224", "md5"}},
	"waitforcert":            {kind: kindDuration, def: "2m"},
	"maxwaitforcert":         {kind: kindTTL, def: "unlimited"},

	// Servers.
	"server":                         {def: "puppet"},
	"masterport":                     {kind: kindPort, def: "8140"},
	"serverport":                     {kind: kindPort, alias: "masterport"}, // masterport's unless set itself
	"server_list":                    {kind: kindList},
	"use_srv_records":                {kind: kindBool, def: "false"},
	"srv_domain":                     {}, // default: the host's domain, see hostNames
	"ca_server":                      {def: "$server"},
	"ca_port":                        {kind: kindPort, def: "$serverport"},
	"report_server":                  {def: "$server"},
	"report_port":                    {kind: kindPort, def: "$serverport"},
	"http_connect_timeout":           {kind: kindDuration, def: "2m"},
	"http_read_timeout":              {kind: kindDuration, def: "10m"},
	"http_keepalive_timeout":         {kind: kindDuration, def: "4s"},
	"http_extra_headers":             {kind: kindList},
	"http_proxy_host":                {def: "none"},
	"http_proxy_port":                {kind: kindPort, def: "3128"},
	"http_proxy_user":                {def: "none"},
	"http_proxy_password":            {def: "none"},
	"no_proxy":                       {def: "localhost, 127.0.0.1"},
	"preferred_serialization_format": {def: "json"},
	"rich_data":                      {kind: kindBool, def: "true"},

	// The run.
	"environment":              {def: "production"},
	"use_last_environment":     {kind: kindBool, def: "true"},
	"strict_environment_mode":  {kind: kindBool, def: "false"},
	"node_name_value":          {def: "$certname"},
	"node_name_fact":           {},
	"include_legacy_facts":     {kind: kindBool, def: "true"},
	"resubmit_facts":           {kind: kindBool, def: "false"},
	"supported_checksum_types": {kind: kindList, def: "sha256, sha384, sha512, sha224, md5"},
	"noop":                     {kind: kindBool, def: "false"},
	"tags":                     {},
	"skip_tags":                {},
	"show_diff":                {kind: kindBool, def: "false"},
	"report":                   {kind: kindBool, def: "true"},
	"usecacheonfailure":        {kind: kindBool, def: "true"},
	"use_cached_catalog":       {kind: kindBool, def: "false"},
	"prerun_command":           {},
	"postrun_command":          {},
	"runtimeout":               {kind: kindDuration, def: "1h"},
	"runinterval":              {kind: kindDuration, def: "30m"},
	"splay":                    {kind: kindBool, def: "false"},
	"splaylimit":               {kind: kindDuration, def: "$runinterval"},
	"waitforlock":              {kind: kindDuration, def: "0"},
	"maxwaitforlock":           {kind: kindTTL, def: "1m"},
	"daemonize":                {kind: kindBool, def: "true"},
	"onetime":                  {kind: kindBool, def: "false"},
}
