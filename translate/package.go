package translate

import (
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// Package with Debian's provider, apt.
func init() {
	register("Package", Native{
		Namevar:    "name",
		Build:      buildPackage,
		Redactable: []string{"ensure"},
		Ignorable:  []string{"allow_virtual", "reinstall_on_refresh"},
	})
}

// packageEnsures maps Puppet's ensure values (and aliases) to Package's.
var packageEnsures = map[string]string{
	"present": "present", "installed": "present", "absent": "absent", "purged": "purged", "latest": "latest",
}

func buildPackage(p *Params) engine.Resource {
	pkg := &resources.Package{Name: p.Namevar("name"), Ensure: "present"}
	if s, ok := p.OptString("ensure"); ok {
		if e, known := packageEnsures[s]; known {
			pkg.Ensure = e
		} else if s == "held" || s == "disabled" {
			p.Unsupportedf("ensure", "%s", s)
		} else {
			pkg.Ensure = s // a version
		}
	}
	pkg.InstallOptions = p.Strings("install_options")
	for _, o := range pkg.InstallOptions {
		if !strings.HasPrefix(o, "-") {
			p.Errorf("install_options", "option %q: want options starting with '-'", o)
		}
	}
	pkg.ConfigFiles = p.Enum("configfiles", "keep", "keep", "replace")
	if s, ok := p.OptString("provider"); ok && s != "apt" {
		p.Unsupportedf("provider", "%s", s)
	}
	return pkg
}
