// Package puppetssl reads a Puppet ssldir (the CA bundle, the CRLs, this host's
// certificate and key) and checks peers against it as Puppet does: every
// certificate of ca.pem is trusted, and a peer's chain is checked against the CRLs
// of crl.pem (certificate_revocation: chain, leaf or off), which Go's crypto/x509
// does not do by itself.
package puppetssl
