//go:build !exported

package main

import "testing"

func TestNeedsExported(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"run", "catalog.json"}, false},
		{[]string{"run", "--noop", "--tags", "etcd", "-"}, false},
		{[]string{"translate", "--format", "dot", "x.json"}, false},
		{[]string{"puppetdb", "--listen", ":8081"}, true},
		{[]string{"run", "--etcd-endpoints", "http://127.0.0.1:2379", "-"}, true},
		{[]string{"run", "--etcd-embedded", "-"}, true},
		{[]string{"run", "--puppetdb-listen=127.0.0.1:8081", "-"}, true},
		{[]string{"run", "--export-lease", "30s", "-"}, true},
		{[]string{"run", "--collect-types=File", "-"}, true},
		{[]string{"run", "--certificate-allowlist", "/etc/puppetdb/allowlist", "-"}, true},
	} {
		if got := needsExported(tc.args); got != tc.want {
			t.Errorf("needsExported(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
