package exported

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// ErrPlaintext is a listener that would serve without TLS beyond this host.
var ErrPlaintext = errors.New("not on loopback and without TLS: anyone who reaches it could read and write exports that nodes apply as root")

// Loopback says whether host, an IP or a name, is on loopback only: an address of
// 127.0.0.0/8 or ::1, or a name that resolves to such addresses only. An empty
// host, which listens on every interface, is not.
func Loopback(host string) bool {
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return false
		}
	}
	return true
}

// checkListen refuses an etcd URL served in plain text beyond loopback, unless
// allowed, and an https URL without a certificate.
func checkListen(what string, u *url.URL, tls, allowPlaintext bool) error {
	switch u.Scheme {
	case "https", "unixs":
		if !tls {
			return fmt.Errorf("etcd %s URL %s: https without a certificate", what, u)
		}
	case "http", "unix":
		if u.Scheme == "unix" || Loopback(u.Hostname()) || allowPlaintext {
			return nil
		}
		return fmt.Errorf("etcd %s URL %s: %w", what, u, ErrPlaintext)
	default:
		return fmt.Errorf("etcd %s URL %s: want http or https", what, u)
	}
	return nil
}
