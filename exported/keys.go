package exported

import "strings"

// The key layout. Everything is under Prefix, applied once through etcd's namespace
// package, so the other keys below are relative:
//
//	/mgmt-puppet/v1/resources/<certname>/<Type>[<title>]  an exported resource (Resource)
//	/mgmt-puppet/v1/bytype/<Type>/<certname>/<Type>[<title>]  the same, by type: what a node watches
//	/mgmt-puppet/v1/nodes/<certname>                      what is known of the node (Node)
//	/mgmt-puppet/v1/facts/<certname>                      the node's facts (Facts)
//	/mgmt-puppet/v1/catalogs/<certname>                   its last catalog, gzipped (catalogDoc)
//	/mgmt-puppet/v1/reports/<certname>/<hash>             a report, gzipped, on a lease of the report TTL (reportDoc)
//	/mgmt-puppet/v1/collectors/<certname>/<sha1>          a query the node collects with (Collector)
//	/mgmt-puppet/v1/live/leased/<certname>                the node's exports count only while it is alive
//	/mgmt-puppet/v1/live/alive/<certname>                 on an etcd lease the running node keeps alive
//
// The two liveness keys share a prefix so that one watch sees them in revision
// order: a node that starts is never seen leased but not yet alive.
//
// A node's exports are replaced in one transaction per catalog, both keys of
// each. The copy by type lets a node watch only the types its collectors ask for
// (every collector names one: File <<| |>>); the PuppetDB API reads the first.
const Prefix = "/mgmt-puppet/v1/"

const (
	resourcesDir  = "resources/"
	typesDir      = "bytype/"
	nodesDir      = "nodes/"
	factsDir      = "facts/"
	collectorsDir = "collectors/"
	catalogsDir   = "catalogs/"
	reportsDir    = "reports/"
	liveDir       = "live/"
	leasedDir     = liveDir + "leased/"
	aliveDir      = liveDir + "alive/"
)

func resourcesKey(certname string) string { return resourcesDir + certname + "/" }

func resourceKey(certname, typ, title string) string {
	return resourcesKey(certname) + typ + "[" + title + "]"
}

// typeKey is the key by type of the export stored at key, a resourceKey.
func typeKey(key string) string {
	certname, typ, ref := splitResourceKey(key)
	return typeNodePrefix(typ, certname) + ref
}

// splitResourceKey returns the certname, the type and the reference (Type[title])
// of a resourceKey.
func splitResourceKey(key string) (certname, typ, ref string) {
	certname, ref, _ = strings.Cut(strings.TrimPrefix(key, resourcesDir), "/")
	typ, _, _ = strings.Cut(ref, "[")
	return certname, typ, ref
}

// typePrefix is the prefix of the keys by type of typ's exports.
func typePrefix(typ string) string { return typesDir + typ + "/" }

// typeNodePrefix is the prefix of the keys by type of typ's exports of certname.
func typeNodePrefix(typ, certname string) string { return typePrefix(typ) + certname + "/" }

// ValidType says whether s may name an exported resource's type in a key: not
// empty, no slash, bracket or NUL (Puppet's types have none).
func ValidType(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/[\x00")
}

func nodeKey(certname string) string    { return nodesDir + certname }
func catalogKey(certname string) string { return catalogsDir + certname }

func reportKey(certname, hash string) string { return reportsDir + certname + "/" + hash }
func factsKey(certname string) string        { return factsDir + certname }

func collectorKey(certname, sum string) string { return collectorsDir + certname + "/" + sum }

// ValidCertname says whether s may name a node: not empty, no slash or NUL, which
// would break the key layout.
func ValidCertname(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/\x00")
}
