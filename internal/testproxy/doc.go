// Package testproxy is an HTTP proxy for tests, on a loopback port: it tunnels
// CONNECT requests, as the proxies between Puppet agents and their servers do,
// and keeps what it was asked, so that a test can tell which requests went
// through it and with which credentials.
package testproxy
