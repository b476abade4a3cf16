package exported

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "localhost": true,
		"": false, "0.0.0.0": false, "::": false, "10.0.0.1": false, "192.0.2.1": false, "no-such-host.invalid": false,
	} {
		if got := Loopback(host); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestEmbeddedRefusesPlaintextBeyondLoopback: an embedded member asked to serve
// clients or peers in plain text on every interface does not start, and says why;
// asked explicitly, it does.
func TestEmbeddedRefusesPlaintextBeyondLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	loop := freeURL(t)
	port := loop[strings.LastIndexByte(loop, ':'):]
	for _, c := range []struct{ name, client, peer, want string }{
		{"clients on every interface", "http://0.0.0.0" + port, freeURL(t), "etcd client URL http://0.0.0.0" + port},
		{"peers on every interface", freeURL(t), "http://0.0.0.0" + port, "etcd peer URL http://0.0.0.0" + port},
		{"https without a certificate", "https://127.0.0.1" + port, freeURL(t), "https without a certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := Embedded(ctx, EmbeddedConfig{DataDir: t.TempDir(), ClientURL: c.client, PeerURL: c.peer})
			if err == nil {
				e.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want one with %q", err, c.want)
			}
		})
	}
	e, err := Embedded(ctx, EmbeddedConfig{DataDir: t.TempDir(), ClientURL: "http://0.0.0.0" + port, PeerURL: freeURL(t),
		AllowPlaintext: true})
	if err != nil {
		t.Fatalf("with AllowPlaintext: %v", err)
	}
	e.Close()
	if _, err := Embedded(ctx, EmbeddedConfig{DataDir: t.TempDir(), ClientURL: "http://0.0.0.0" + port}); !errors.Is(err, ErrPlaintext) {
		t.Fatalf("error %v, want ErrPlaintext", err)
	}
}
