package hugeheap

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestPrepare: where Linux gives huge pages to memory that asks (and nothing
// else rules Prepare out), what the program allocates next lies in memory
// advised for them; elsewhere Prepare does nothing.
func TestPrepare(t *testing.T) {
	mode, _ := os.ReadFile(thpEnabled)
	overcommit, _ := os.ReadFile("/proc/sys/vm/overcommit_memory")
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_AS, &lim); err != nil {
		t.Fatal(err)
	}
	want := chosen(string(mode)) == "madvise" && strings.TrimSpace(string(overcommit)) != "2" &&
		lim.Cur == unix.RLIM_INFINITY && !thpDisabled(os.Getenv("GODEBUG"))
	const need = 96 << 20
	if got := Prepare(need); got != want {
		t.Fatalf("Prepare = %v with transparent huge pages %q, overcommit %q; want %v", got, mode, overcommit, want)
	}
	if Prepare(MinNeed - 1) {
		t.Error("Prepare did something for less than MinNeed")
	}
	if !want {
		t.Logf("nothing to prepare here (transparent huge pages %q)", strings.TrimSpace(string(mode)))
		return
	}
	// Most of the span prepared, so that it cannot fit below it.
	b := make([]byte, need*3/4)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	flags, huge := vma(t, uintptr(unsafe.Pointer(&b[len(b)/2])))
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("the memory allocated after Prepare is not advised for huge pages: VmFlags %q", flags)
	}
	t.Logf("AnonHugePages %d kB in that mapping (0 when the kernel had no huge page free)", huge)
	Release()
	flags, _ = vma(t, uintptr(unsafe.Pointer(&b[len(b)/2])))
	if f := " " + flags + " "; strings.Contains(f, " hg ") || !strings.Contains(f, " nh ") {
		t.Errorf("after Release, the memory is still advised for huge pages: VmFlags %q", flags)
	}
	runtime.KeepAlive(b)
}

// vma returns the VmFlags and AnonHugePages (kB) of the mapping holding addr,
// from /proc/self/smaps.
func vma(t *testing.T, addr uintptr) (flags string, hugeKB int) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			lo, hi, _ := strings.Cut(fields[0], "-")
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h
			continue
		}
		if !in {
			continue
		}
		switch {
		case strings.HasPrefix(line, "AnonHugePages:") && len(fields) > 1:
			hugeKB, _ = strconv.Atoi(fields[1])
		case strings.HasPrefix(line, "VmFlags:"):
			return strings.TrimPrefix(line, "VmFlags:"), hugeKB
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return "", 0
}
