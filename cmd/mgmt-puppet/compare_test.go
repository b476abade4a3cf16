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

// TestLocalModuleSources: the catalog given to puppet apply --catalog names the
// local files of puppet:///modules/ sources, which it cannot fetch without a file
// server; other sources and everything else stay as they were.
func TestLocalModuleSources(t *testing.T) {
	mods := t.TempDir()
	if err := os.MkdirAll(filepath.Join(mods, "m", "files", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mods, "m", "files", "etc", "a.conf"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := `{"resources":[` +
		`{"type":"File","title":"/a","parameters":{"source":"puppet:///modules/m/etc/a.conf","mode":"0644"}},` +
		`{"type":"File","title":"/b","parameters":{"source":["puppet:///modules/m/missing","puppet:///modules/m/etc/a.conf","/local"]}},` +
		`{"type":"Exec","title":"x","parameters":{"command":"puppet:///modules/m/etc/a.conf","timeout":300}}]}`
	got := string(localModuleSources([]byte(in), []string{filepath.Join(mods, "none"), mods}))
	local := filepath.Join(mods, "m", "files", "etc", "a.conf")
	for _, want := range []string{
		`{"parameters":{"mode":"0644","source":"` + local + `"},"title":"/a"`,
		`"source":["puppet:///modules/m/missing","` + local + `","/local"]`,
		`"command":"puppet:///modules/m/etc/a.conf","timeout":300`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("got %s\nwant %s in it", got, want)
		}
	}
	if same := localModuleSources([]byte(`{"resources":[]}`), nil); string(same) != `{"resources":[]}` {
		t.Errorf("a catalog without module sources changed: %s", same)
	}
}
