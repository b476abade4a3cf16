package puppetdb

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

// Allowlist is PuppetDB's certificate-allowlist: the certnames, one per line, of
// the clients that may use the API over HTTPS. The file is read again when it
// changes; while it cannot be read, every client is refused.
type Allowlist struct {
	path string
	logf func(format string, args ...any)

	mu    sync.Mutex
	names map[string]bool
	mod   time.Time
	size  int64
	err   error
}

// LoadAllowlist reads the file. logf, when not nil, is told of refused clients and
// of a file that can no longer be read.
func LoadAllowlist(path string, logf func(format string, args ...any)) (*Allowlist, error) {
	a := &Allowlist{path: path, logf: logf}
	a.reload()
	if a.err != nil {
		return nil, a.err
	}
	return a, nil
}

func (a *Allowlist) reload() {
	fi, err := os.Stat(a.path)
	if err == nil && a.names != nil && fi.ModTime().Equal(a.mod) && fi.Size() == a.size {
		return
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(a.path)
	}
	if err != nil {
		if a.err == nil && a.logf != nil {
			a.logf("certificate allowlist: %v; refusing every client until it can be read", err)
		}
		a.names, a.err = nil, fmt.Errorf("certificate allowlist: %w", err)
		return
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if n := string(bytes.TrimSpace(sc.Bytes())); n != "" {
			names[n] = true
		}
	}
	a.names, a.mod, a.size, a.err = names, fi.ModTime(), fi.Size(), nil
}

// Allowed says whether certname may use the API.
func (a *Allowlist) Allowed(certname string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reload()
	return a.names[certname]
}

// Wrap lets through requests over plain HTTP (a listener on loopback only, as
// PuppetDB lets them through) and over HTTPS from an allowed client certificate;
// it answers every other request 403, with PuppetDB's message, before reading its
// body.
func (a *Allowlist) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			h.ServeHTTP(w, r)
			return
		}
		cn := ""
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		if cn != "" && a.Allowed(cn) {
			h.ServeHTTP(w, r)
			return
		}
		if a.logf != nil {
			a.logf("%s rejected by certificate allowlist %s", cn, a.path)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "Permission denied: The client certificate name %s doesn't appear in the certificate allowlist. "+
			"Is your master's (or other PuppetDB client's) certname listed in PuppetDB's certificate-allowlist file?", cn)
	})
}
