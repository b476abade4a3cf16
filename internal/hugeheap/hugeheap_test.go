package hugeheap

import "testing"

func TestChosen(t *testing.T) {
	for _, tc := range []struct{ list, want string }{
		{"always [madvise] never\n", "madvise"},
		{"[always] madvise never", "always"},
		{"always madvise [never]", "never"},
		{"always madvise never", ""},
		{"[broken", ""},
		{"", ""},
	} {
		if got := chosen(tc.list); got != tc.want {
			t.Errorf("chosen(%q) = %q, want %q", tc.list, got, tc.want)
		}
	}
}

func TestSize(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct{ need, mem, page, want uint64 }{
		{236 * mb, 24 << 30, 2 * mb, 236 * mb},
		{236 * mb, 512 * mb, 2 * mb, 128 * mb}, // a quarter of the memory at most
		{236 * mb, 60 * mb, 2 * mb, 0},         // a quarter is too little to be worth it
		{MinNeed - 1, 24 << 30, 2 * mb, 0},     // too little
		{MinNeed, 24 << 30, 2 * mb, MinNeed},   // just enough
		{1 << 40, 8 << 30, 2 * mb, 2 << 30},    // a huge catalog on a small machine
		{236 * mb, 24 << 30, 512 * mb, 0},      // arm64 with 64 KiB pages: not two huge pages
		{2 << 30, 24 << 30, 512 * mb, 2 << 30},
	} {
		if got := size(tc.need, tc.mem, tc.page); got != tc.want {
			t.Errorf("size(%d MiB, %d MiB, %d MiB) = %d MiB, want %d MiB", tc.need/mb, tc.mem/mb, tc.page/mb, got/mb, tc.want/mb)
		}
	}
}

func TestSpan(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct{ start, n, page, from, to uintptr }{
		{4 * mb, 8 * mb, 2 * mb, 4 * mb, 12 * mb},
		{4*mb + 4096, 8 * mb, 2 * mb, 6 * mb, 12 * mb},
		{4*mb + 4096, 2 * mb, 2 * mb, 6 * mb, 6 * mb}, // no whole huge page
		{4*mb + 4096, mb, 2 * mb, 6 * mb, 6 * mb},
		{4*mb + 4096, 1024 * mb, 512 * mb, 512 * mb, 1024 * mb},
	} {
		from, to := span(tc.start, tc.n, tc.page)
		if from != tc.from || to != tc.to {
			t.Errorf("span(%#x, %#x, %#x) = %#x, %#x; want %#x, %#x", tc.start, tc.n, tc.page, from, to, tc.from, tc.to)
		}
	}
}

func TestThpDisabled(t *testing.T) {
	for _, tc := range []struct {
		godebug string
		want    bool
	}{
		{"", false},
		{"disablethp=1", true},
		{"madvdontneed=1,disablethp=1", true},
		{"disablethp=1,disablethp=0", false},
		{"disablethp=0", false},
		{"gctrace=1", false},
	} {
		if got := thpDisabled(tc.godebug); got != tc.want {
			t.Errorf("thpDisabled(%q) = %v, want %v", tc.godebug, got, tc.want)
		}
	}
}
