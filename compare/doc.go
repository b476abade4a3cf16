// Package compare tells where two run reports disagree about what is out of sync:
// typically real Puppet's and mgmt-puppet's noop reports for the same catalog on
// the same host, read in Puppet's report format (report_format 12). For each
// resource it compares whether it is skipped or failed and, property by property,
// what each would change, from what to what, and in noop the line each prints for it.
// A skipped resource names the failed dependencies it was skipped for.
package compare
