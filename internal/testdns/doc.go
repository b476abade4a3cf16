// Package testdns is a DNS server for tests: it answers SRV questions from a
// table, over UDP, and every other question with NXDOMAIN, so that a test can
// give real resolvers (Go's, Ruby's Resolv in puppet agent) the records it
// needs.
package testdns
