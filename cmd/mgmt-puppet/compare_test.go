package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareModulePath checks the --basemodulepath compare gives puppet: by
// default run's (Debian's) with the catalog's environment, an empty folder when
// the flag is empty.
func TestCompareModulePath(t *testing.T) {
	tmp := t.TempDir()
	// A stand-in puppet that writes its arguments as the report.
	fake := filepath.Join(tmp, "puppet")
	script := "#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in --lastrunreport) out=$2;; esac; all=\"$all $1\"; shift; done\necho \"$all\" >\"$out\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, want string }{
		{defaultModulePath, " --basemodulepath /etc/puppet/code/environments/staging/modules:/etc/puppet/code/modules:/usr/share/puppet/modules "},
		{"/a::/b/$environment", " --basemodulepath /a:/b/staging "},
		{"", " --basemodulepath " + filepath.Join(tmp, "modules") + " "},
	} {
		o := &compareOptions{puppet: fake, modulepath: tc.flag}
		out, err := o.puppetNoop(context.Background(), filepath.Join(tmp, "catalog.json"), tmp, "staging")
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("--modulepath %q: puppet got %q (%v), want %q in it", tc.flag, out, err, tc.want)
		}
	}
}
