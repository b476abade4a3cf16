// Package hugeheap asks Linux to back the memory a large run will allocate with
// transparent huge pages where the system gives them only to memory that asks
// (Debian's default, "madvise"). Taking a fresh 4 KiB page costs a page fault,
// some 10 µs on the VMs measured: for the 240 MB a 100,000-file catalog needs,
// that was a third of the run. Go's runtime does not ask for huge pages for its
// heap, so Prepare does, for a span of heap the run is about to fill.
package hugeheap
