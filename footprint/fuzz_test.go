package footprint

import (
	"strings"
	"testing"
)

// FuzzCommand: any command line gets a footprint without a panic or a hang, and a
// footprint that is not everything names only absolute keys.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{"/bin/rm /etc/x", "test -e /x && rm -rf /y/*", "echo $(cat /x) > /y",
		"sh -c 'touch /a; cd /b && mkdir c'", "if [ -f /x ]; then systemctl restart ssh; fi", "'", "a=$b c"} {
		f.Add(s, "/tmp")
	}
	f.Fuzz(func(t *testing.T, line, cwd string) {
		fp := Command(line, cwd, map[string]string{"HOME": "/root"})
		if fp.Why != "" {
			return
		}
		for _, a := range fp.Accesses {
			if a.Key != All && a.Key[0] != '/' && !strings.Contains(a.Key, ":") {
				t.Fatalf("%q in %q: relative key %q", line, cwd, a.Key)
			}
		}
	})
}
