package hugeheap

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Where Linux says when it backs anonymous memory with huge pages, and their
// size.
const (
	thpEnabled = "/sys/kernel/mm/transparent_hugepage/enabled"
	thpSize    = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
)

// hugePage is the size of a transparent huge page here.
func hugePage() uint64 {
	b, err := os.ReadFile(thpSize)
	if err != nil {
		return defaultHugePage
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n == 0 || n&(n-1) != 0 {
		return defaultHugePage
	}
	return n
}

// Prepare readies the heap for a run about to allocate some need bytes: when
// Linux gives huge pages to memory that asks for them, it has Go's runtime map
// that much heap (without touching it), advises it MADV_HUGEPAGE and frees it
// again, so that the run's allocations, which reuse the lowest free heap first,
// fault in 2 MiB at a time. It reports whether it did. It does nothing where it
// would not help or could hurt: for a need under MinNeed; when huge pages are
// always or never used; with GODEBUG=disablethp=1; when the kernel counts every
// mapping against a strict commit limit (vm.overcommit_memory 2) or the
// process's address space is limited; and it advises at most a quarter of the
// machine's memory. Pages never touched cost no memory; those touched cost up to
// 2 MiB at a time instead of 4 KiB. A process that goes on once its heap is
// filled calls Release.
func Prepare(need int64) bool {
	if need < MinNeed || thpDisabled(os.Getenv("GODEBUG")) {
		return false
	}
	if b, err := os.ReadFile(thpEnabled); err != nil || chosen(string(b)) != "madvise" {
		return false
	}
	if b, err := os.ReadFile("/proc/sys/vm/overcommit_memory"); err != nil || strings.TrimSpace(string(b)) == "2" {
		return false
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_AS, &lim); err != nil || lim.Cur != unix.RLIM_INFINITY {
		return false
	}
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil {
		return false
	}
	page := hugePage()
	n := size(uint64(need), uint64(info.Totalram)*uint64(info.Unit), page)
	if n == 0 {
		return false
	}
	// A large allocation is mostly fresh memory, which the runtime does not
	// clear: making it maps the span and touches little (only what it reuses of
	// memory freed before, resident already).
	heap := make([]byte, n)
	base := uintptr(unsafe.Pointer(unsafe.SliceData(heap)))
	from, to := span(base, uintptr(n), uintptr(page))
	if from == to {
		return false
	}
	advised := heap[from-base : to-base]
	if err := unix.Madvise(advised, unix.MADV_HUGEPAGE); err != nil {
		return false
	}
	prepared.Lock()
	prepared.spans = append(prepared.spans, [2]uintptr{from, to})
	prepared.Unlock()
	runtime.GC() // heap is dead: this frees the span for the run's allocations
	return true
}

// prepared holds the spans advised, [from, to), until Release: their
// addresses, not references that would keep their memory.
var prepared struct {
	sync.Mutex
	spans [][2]uintptr
}

// Release withdraws the advice from the spans Prepare advised, once the run
// has filled its heap: what is huge stays so, but Linux's khugepaged no longer
// gathers the pages of a long-running process into huge ones, which would bring
// back the memory the runtime gives back to the system once the catalog is
// garbage.
func Release() {
	prepared.Lock()
	defer prepared.Unlock()
	for _, s := range prepared.spans {
		// Advice: nothing to do if it is refused.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, s[0], s[1]-s[0], unix.MADV_NOHUGEPAGE)
	}
	prepared.spans = nil
}
