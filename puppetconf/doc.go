// Package puppetconf reads Puppet 7's settings as `puppet agent` 7.23 (Debian's
// puppet package) sees them: puppet.conf's [main] and run-mode section, the command
// line over both, Debian's root or per-user defaults under them, and `$setting`
// references resolved. It knows the agent's settings only, not the ~230 of Puppet.
package puppetconf
