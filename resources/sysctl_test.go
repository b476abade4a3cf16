package resources

import "testing"

// The parsed provider's lines: comments and blank lines kept as text, records split
// on "=" with the spaces around it, written back as name=value.
func TestSysctlLines(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"# comment", "# comment"},
		{"   # indented comment", "   # indented comment"},
		{"", ""},
		{"  ", "  "},
		{"vm.swappiness = 60", "vm.swappiness=60"},
		{"vm.swappiness=60", "vm.swappiness=60"},
		{"net.ipv4.tcp_rmem = 4096\t87380 6291456", "net.ipv4.tcp_rmem=4096\t87380 6291456"},
		{"a = b = c", "a=b"},
		{"kernel.sysrq", "kernel.sysrq="},
	} {
		got, err := parseSysctlLine(tc.in).line()
		if err != nil || got != tc.out {
			t.Errorf("%q: wrote %q (%v), want %q", tc.in, got, err, tc.out)
		}
	}
}
