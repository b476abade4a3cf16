// Package testbed boots a real Debian bookworm with a real systemd as PID 1, in a
// systemd-nspawn container with a private network (scripts/testbed.sh), for the tests
// of resources that drive systemd, apt and the account tools. Its image carries apt's
// package lists and the .debs of memcached and ntp, so that apt installs them
// offline; the Corpus image carries Debian's Puppet modules and the .debs of what
// the catalogs of fixtures/corpus install.
package testbed
