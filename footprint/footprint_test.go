package footprint

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
)

func TestOverlap(t *testing.T) {
	w, r := true, false
	for _, tc := range []struct {
		a, b Access
		want bool
	}{
		{Path("/etc/motd", w), Path("/etc/motd", w), true},
		{Path("/etc/motd", w), Path("/etc/motd", r), true},
		{Path("/etc/motd", r), Path("/etc/motd", r), false},
		{Path("/etc/motd", w), Path("/etc/motd2", w), false},
		{Path("/etc", w), Path("/etc/motd", w), true}, // /etc/motd needs /etc
		{Path("/etc", w), Path("/etc/motd", r), true},
		{Path("/etc", r), Path("/etc/motd", w), false}, // files in one directory stay free
		{Path("/etc/motd", w), Path("/etc/motd.d", r), false},
		{Tree("/etc", w), Path("/etc/motd", r), true},
		{Path("/etc/motd", r), Tree("/etc", w), true},
		{Tree("/etc/apache2/mods-enabled", w), Path("/etc/apache2/mods-enabled/mpm_event.conf", r), true},
		{Tree("/etc/apache2", w), Tree("/etc/apache2/mods-enabled", r), true},
		{Tree("/etc/a", w), Tree("/etc/b", w), false},
		{Tree("/etc/ab", w), Path("/etc/a", w), false},
		{Access{Key: All, Tree: true, Write: true}, Name("systemd", "/units/x", false, false), true},
		{ReadsEverything, Path("/x", w), true},
		{ReadsEverything, Path("/x", r), false},
		{Name("systemd", "/", true, w), Path("/", w), false},
		{Name("systemd", "/", true, w), Tree("/", w), false},
		{Tree("/", w), Path("/etc", w), true},
	} {
		if got := Overlap(tc.a, tc.b); got != tc.want {
			t.Errorf("Overlap(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := Overlap(tc.b, tc.a); got != tc.want {
			t.Errorf("Overlap(%v, %v) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestTracker(t *testing.T) {
	pkg := func() Footprint { f := Everything("package"); f.Group = "package"; return f }
	file := func(p string) Footprint { return Footprint{Accesses: []Access{Path(p, true)}} }
	for _, tc := range []struct {
		name string
		fs   []Footprint
		want [][]int // per footprint, the ids it must come after
	}{
		{
			name: "distinct files are free",
			fs:   []Footprint{file("/a"), file("/b"), file("/c")},
			want: [][]int{nil, nil, nil},
		},
		{
			name: "purge then a check inside",
			fs: []Footprint{
				{Accesses: []Access{Tree("/etc/apache2/mods-enabled", true)}},
				{Accesses: []Access{Path("/etc/apache2/mods-enabled/mpm_event.conf", false)}},
			},
			want: [][]int{nil, {0}},
		},
		{
			name: "a write stands for the readers before it",
			fs: []Footprint{
				file("/x"),
				{Accesses: []Access{Path("/x", false)}},
				{Accesses: []Access{Path("/x", false)}},
				file("/x"),
				{Accesses: []Access{Path("/x", false)}},
			},
			want: [][]int{nil, {0}, {0}, {0, 1, 2}, {3}},
		},
		{
			name: "a directory, then an exec writing into it",
			fs: []Footprint{
				file("/base"),
				file("/base/password"),
				{Accesses: []Access{Path("/bin/sh", false), Path("/base/env.out", true)}},
				{Accesses: []Access{Path("/base", false)}},
			},
			want: [][]int{nil, {0}, {0}, {0}},
		},
		{
			name: "a directory written after what is in it stands for it",
			fs: []Footprint{
				file("/d/a"),
				{Accesses: []Access{Path("/d/b", false)}},
				file("/d"),
				{Accesses: []Access{Path("/d/c", false)}},
			},
			want: [][]int{nil, nil, {0, 1}, {2}},
		},
		{
			name: "packages commute, a file between them does not",
			fs:   []Footprint{pkg(), pkg(), file("/etc/x"), pkg(), file("/etc/y")},
			want: [][]int{nil, nil, {0, 1}, {2}, {0, 1, 3}},
		},
		{
			name: "an unknown command comes after everything and stands for it",
			fs:   []Footprint{file("/a"), file("/b"), Everything("exec"), file("/c"), {}},
			want: [][]int{nil, nil, {0, 1}, {2}, nil},
		},
		{
			name: "a service reads everything",
			fs: []Footprint{
				file("/etc/memcached.conf"),
				{Accesses: []Access{ReadsEverything, Name("systemd", "/", true, true)}},
				file("/etc/other"),
				{Accesses: []Access{ReadsEverything, Name("systemd", "/", true, true)}},
			},
			want: [][]int{nil, {0}, {1}, {0, 1, 2}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker()
			for i, f := range tc.fs {
				var got []int
				for _, c := range tr.Add(i, f) {
					got = append(got, c.ID)
				}
				if !reflect.DeepEqual(sorted(got), tc.want[i]) {
					t.Errorf("footprint %d: after %v, want %v", i, got, tc.want[i])
				}
			}
		})
	}
}

func sorted(s []int) []int {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// The tracker's edges, closed transitively, order every pair that conflicts, and
// every edge is a conflict: checked against all pairs on random footprints.
func TestTrackerMatchesPairwise(t *testing.T) {
	keys := []string{"/", "/etc", "/etc/a", "/etc/a/b", "/etc/c", "/var", "/var/x", "systemd:/u", "systemd:/u/s1", "systemd:/u/s2", All}
	rnd := rand.New(rand.NewSource(7))
	for trial := 0; trial < 1000; trial++ {
		n := 1 + rnd.Intn(14)
		fs := make([]Footprint, n)
		for i := range fs {
			for k := rnd.Intn(4); k > 0; k-- {
				key := keys[rnd.Intn(len(keys))]
				fs[i].Accesses = append(fs[i].Accesses, Access{Key: key, Tree: key == All || rnd.Intn(2) == 0, Write: rnd.Intn(2) == 0})
			}
			if rnd.Intn(4) == 0 {
				fs[i].Group = "g"
			}
		}
		tr := NewTracker()
		after := make([]map[int]bool, n) // transitive predecessors
		for i, f := range fs {
			after[i] = map[int]bool{}
			for _, c := range tr.Add(i, f) {
				if _, _, ok := Conflicts(fs[c.ID], f); !ok || c.ID >= i {
					t.Fatalf("trial %d: %d after %d, which is no conflict: %+v", trial, i, c.ID, fs)
				}
				after[i][c.ID] = true
				for p := range after[c.ID] {
					after[i][p] = true
				}
			}
			for j := 0; j < i; j++ {
				if _, _, ok := Conflicts(fs[j], f); ok && !after[i][j] {
					t.Fatalf("trial %d: %d conflicts with %d but is not ordered after it:\n%s", trial, i, j, describe(fs))
				}
			}
		}
	}
}

func describe(fs []Footprint) string {
	s := ""
	for i, f := range fs {
		s += fmt.Sprintf("%d %q %v\n", i, f.Group, f.Accesses)
	}
	return s
}
