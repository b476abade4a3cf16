package hugeheap

import "strings"

// MinNeed is the smallest need for which Prepare does anything: below it, the
// page faults saved are not worth a collection.
const MinNeed = 16 << 20

// defaultHugePage is the size of a transparent huge page where Linux does not
// say (2 MiB on x86-64 and on arm64 with 4 KiB pages).
const defaultHugePage = 2 << 20

// span is the part of [start, start+n) made of whole huge pages of size page (a
// power of two): what advising the range can back with them.
func span(start, n, page uintptr) (from, to uintptr) {
	from = (start + page - 1) &^ (page - 1)
	to = (start + n) &^ (page - 1)
	return from, max(from, to)
}

// chosen returns the word in brackets of a sysfs choice list such as
// "always [madvise] never": the setting in force.
func chosen(list string) string {
	_, after, ok := strings.Cut(list, "[")
	if !ok {
		return ""
	}
	word, _, ok := strings.Cut(after, "]")
	if !ok {
		return ""
	}
	return word
}

// size is how much heap to advise for need bytes on a machine of memTotal
// bytes: need, but at most a quarter of the memory; 0 when that is less than
// MinNeed, or than two huge pages of size page (a power of two).
func size(need, memTotal, page uint64) uint64 {
	n := min(need, memTotal/4)
	if n < MinNeed || n < 2*page {
		return 0
	}
	return n
}

// thpDisabled reports whether GODEBUG turns transparent huge pages off for the
// heap (disablethp=1), which Prepare honours too.
func thpDisabled(godebug string) bool {
	on := false
	for _, kv := range strings.Split(godebug, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "disablethp" {
			on = v != "0" // the last setting wins, as in the runtime
		}
	}
	return on
}
