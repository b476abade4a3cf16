package testport

import (
	"net"
	"testing"
)

// Addresses handed out one after the other are never the same, and each can be
// listened on.
func TestAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 300; i++ {
		a := Addr(t)
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
	}
	ln, err := net.Listen("tcp", Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}
