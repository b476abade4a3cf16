package translate

import "testing"

func TestConcatContent(t *testing.T) {
	frags := []*concatFragment{
		{name: "b", order: "10", content: "b10\n"},
		{name: "a", order: "9", content: "a9"},
		{name: "c", order: "01", content: "c01\n"},
		{name: "a", order: "10", content: "a10\n"},
	}
	for _, tc := range []struct {
		order   string
		newline bool
		want    string
	}{
		// alpha: orders compare as strings ("01" < "10" < "9").
		{"alpha", false, "c01\na10\nb10\na9"},
		// numeric: as numbers (1 < 9 < 10), names break ties.
		{"numeric", false, "c01\na9a10\nb10\n"},
		{"numeric", true, "c01\na9\na10\nb10\n"},
	} {
		if got := concatContent(frags, tc.order, tc.newline); got != tc.want {
			t.Errorf("order %s newline %v: %q, want %q", tc.order, tc.newline, got, tc.want)
		}
	}
}
