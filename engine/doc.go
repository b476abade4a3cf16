// Package engine runs a directed acyclic graph of resources: every vertex whose
// dependencies are done runs at once (within a concurrency bound), refresh events flow
// along refresh edges, dependents of failures are skipped, and after the first pass each
// resource's watch pokes it so drift is repaired. It knows nothing of Puppet: a vertex is
// a name and a Resource, and what happens is told to an Observer.
package engine
