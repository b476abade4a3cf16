// Package puppetdb serves the subset of PuppetDB's HTTP API that Puppet's stock
// puppetdb terminus uses, backed by an exported.Store (etcd): commands
// (replace_catalog, replace_facts, store_report, deactivate_node), resource queries
// with the query AST collectors send, and node facts. So the stock compiler exports
// into etcd and collects from it with unchanged manifests.
package puppetdb
