// Package exported keeps the resources that nodes export, the facts they send and
// the collector queries they ask, in etcd, so that nodes exchange resources without
// PuppetDB. Every key lives under one prefix (see keys.go); values are plain JSON,
// in PuppetDB's own shapes, so that any tool can read them.
//
// The etcd underneath is either embedded in the process (Embedded, the default) or an
// external cluster (External); both hand out a Store.
package exported
