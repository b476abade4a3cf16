package exported

import "strings"

// The key layout. Everything is under Prefix, applied once through etcd's namespace
// package, so the other keys below are relative:
//
//	/mgmt-puppet/v1/resources/<certname>/<Type>[<title>]  an exported resource (Resource)
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
// A node's exports are replaced in one transaction per catalog.
const Prefix = "/mgmt-puppet/v1/"

const (
	resourcesDir  = "resources/"
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
