// Package testenv decides what a test does when a real component it needs is
// missing (Puppet, a Debian module, root, a tool): on a workstation it skips, in
// CI (CI=true) it fails, so that CI never passes a test it did not run.
package testenv
