package testport

import (
	"net"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	given = map[string]bool{}
)

// Addr returns a free 127.0.0.1:port not returned before in this process.
func Addr(tb testing.TB) string {
	tb.Helper()
	for range 1000 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		mu.Lock()
		fresh := !given[addr]
		given[addr] = true
		mu.Unlock()
		if fresh {
			return addr
		}
	}
	tb.Fatal("no loopback port that was not handed out already")
	return ""
}

// URL is Addr as an http URL.
func URL(tb testing.TB) string {
	tb.Helper()
	return "http://" + Addr(tb)
}
