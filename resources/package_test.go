package resources

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPackageChangeMessages(t *testing.T) {
	for _, tc := range []struct{ is, should, want string }{
		{"purged", "present", "created"},
		{"absent", "present", "created"},
		{"purged", "1.2-1", "created"},
		{"1.2-1", "absent", "removed"},
		{"1.2-1", "purged", "purged"},
		{"absent", "purged", "purged"},
		{"1.2-1", "1.3-1", "ensure changed '1.2-1' to '1.3-1'"},
	} {
		if got := packageChange(tc.is, tc.should); got != tc.want {
			t.Errorf("%s -> %s: %q, want %q", tc.is, tc.should, got, tc.want)
		}
	}
}

// TestDpkgState reads states from a status file, and the host's real one against
// dpkg-query's answer.
func TestDpkgState(t *testing.T) {
	status := filepath.Join(t.TempDir(), "status")
	data := `Package: gone
Status: deinstall ok config-files
Version: 1.0-1

Package: here
Status: install ok installed
Architecture: amd64
Version: 2:3.4-5
Description: a
 multi-line description
 Version: not this one

Package: half
Status: install reinstreq half-installed
Version: 0.1

Package: never
Status: purge ok not-installed
`
	if err := os.WriteFile(status, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	old := dpkgStatus
	dpkgStatus = status
	defer func() { dpkgStatus = old }()
	for name, want := range map[string]string{
		"gone": "absent", "here": "2:3.4-5", "here:amd64": "2:3.4-5", "half": "absent", "never": "purged", "unknown": "purged",
	} {
		if got, err := dpkgState(name); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", name, got, err, want)
		}
	}

	dpkgStatus = old
	out, err := exec.Command("dpkg-query", "-W", "--showformat", "${Version}", "bash").Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: dpkg-query: %v", err)
		}
		t.Skipf("dpkg-query: %v", err)
	}
	if got, err := dpkgState("bash"); err != nil || got != strings.TrimSpace(string(out)) {
		t.Errorf("bash on this host: %q %v, dpkg-query says %q", got, err, out)
	}
}

func TestPackageValidate(t *testing.T) {
	for _, p := range []Package{{Name: "Bad Name", Ensure: "present"}, {Name: "ok", Ensure: ""}, {Name: "ok", Ensure: "present", ConfigFiles: "x"}} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
	if err := (&Package{Name: "libc6:amd64", Ensure: "latest"}).Validate(); err != nil {
		t.Error(err)
	}
}
