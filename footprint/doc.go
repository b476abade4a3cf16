// Package footprint describes what a resource may read or change on a host, and finds
// which of two resources may interfere.
//
// A Footprint is a list of Accesses to keys. Keys are hierarchical: a filesystem path
// ("/etc/apache2/mods-enabled"), or a path in another namespace ("systemd:/units"),
// and All is the root of every namespace. An access covers its key, or with Tree
// its key and everything under it. Two accesses conflict when their keys overlap and
// one of them writes; a write of a key overlaps everything under it, which needs the
// key to exist. Resources of one Group never conflict with each other: the
// group's runner orders them itself (apt's lock and dependency resolution for
// packages).
//
// A Tracker takes footprints in the order a serial run would apply them and returns,
// for each, the earlier ones it conflicts with, pruned the way a compiler tracks
// memory dependencies: a write that came after every earlier access of a region
// stands for them, so a later access needs an edge from it alone. docs/parallel-safety.md
// says which footprint each Puppet type has and why.
package footprint
