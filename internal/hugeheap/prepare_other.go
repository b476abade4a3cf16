//go:build !linux

package hugeheap

// Prepare does nothing here: only Linux gives huge pages to memory that asks.
func Prepare(need int64) bool { return false }

// Release does nothing here.
func Release() {}
