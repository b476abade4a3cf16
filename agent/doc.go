// Package agent talks to Puppet Server as `puppet agent` 7.23 does: the client's
// HTTPS requests (Puppet's headers, query encoding and error bodies), the SSL
// bootstrap of a node without a certificate (CA bundle, CRL, key, CSR, signed
// certificate), the facts sent with a catalog request, and the lock files that
// puppet agent shares (agent_catalog_run.lock, agent_disabled.lock).
//
// The run itself (translate, apply, report) is the command's: this package knows
// the wire, not the engine.
package agent
