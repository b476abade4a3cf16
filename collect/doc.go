// Package collect keeps a running node's collected resources in step with etcd:
// whenever an exported resource or one of the node's collector queries changes, it
// works out the resources the node's collectors now answer with, and, when they
// differ from the running ones, swaps a new graph into the engine; every other
// resource keeps running untouched. So a node gets another node's exports without
// waiting for its next compile.
package collect
