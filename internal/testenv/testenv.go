package testenv

import (
	"os"
	"testing"
)

// CI says whether the tests run in CI (CI=true).
func CI() bool { return os.Getenv("CI") == "true" }

// Missing ends tb for want of what the message names (with how to get it, where
// that helps): it fails with CI=true, else it skips.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if CI() {
		tb.Fatalf("CI=true: "+format, args...)
		return
	}
	tb.Skipf(format, args...)
}

// NeedRoot ends tb, as Missing does, unless the test runs as root; why says what
// root is needed for.
func NeedRoot(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Missing(tb, "needs root: %s", why)
	}
}
