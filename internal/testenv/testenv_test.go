package testenv

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that records how it was ended.
type recorder struct {
	testing.TB
	ended string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.ended = "fail: " + fmt.Sprintf(format, args...)
}
func (r *recorder) Skipf(format string, args ...any) {
	r.ended = "skip: " + fmt.Sprintf(format, args...)
}

func TestMissing(t *testing.T) {
	for _, c := range []struct{ ci, want string }{
		{"true", "fail: CI=true: puppet is not installed (apt-get install puppet)"},
		{"", "skip: puppet is not installed (apt-get install puppet)"},
		{"false", "skip: puppet is not installed (apt-get install puppet)"},
	} {
		t.Run("CI="+c.ci, func(t *testing.T) {
			t.Setenv("CI", c.ci)
			r := &recorder{TB: t}
			Missing(r, "%s is not installed (apt-get install %s)", "puppet", "puppet")
			if r.ended != c.want {
				t.Errorf("ended %q, want %q", r.ended, c.want)
			}
		})
	}
}
