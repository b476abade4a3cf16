package resources

import (
	"fmt"
	"regexp"
	"testing"
)

// TestNumericMode checks numericMode against the regular expression it stands for,
// and octal4 against %04o.
func TestNumericMode(t *testing.T) {
	re := regexp.MustCompile(`^0?[0-7]{1,4}$`)
	alphabet := []string{"0", "1", "7", "8", "a", "-", " ", "\n"}
	var gen func(prefix string, n int)
	checked := 0
	gen = func(prefix string, n int) {
		if got, want := numericMode(prefix), re.MatchString(prefix); got != want {
			t.Errorf("numericMode(%q) = %v, want %v", prefix, got, want)
		}
		checked++
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(prefix+c, n-1)
		}
	}
	gen("", 6)
	if checked < 299593 { // every string of up to 6 of the 8 characters
		t.Fatalf("only %d strings checked", checked)
	}
	for bits := uint32(0); bits <= 0o17777; bits++ {
		if got, want := octal4(bits), fmt.Sprintf("%04o", bits); got != want {
			t.Fatalf("octal4(%o) = %q, want %q", bits, got, want)
		}
	}
}
