// Package integration holds end-to-end tests of the built mgmt-puppet binary: real
// catalogs applied by mgmt-puppet and by real `puppet apply --catalog`, whose trees,
// log lines and exit codes are compared, and the benchmarks behind `make bench`.
package integration
