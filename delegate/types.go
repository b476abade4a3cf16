package delegate

import (
	"os"
	"path/filepath"
	"strings"
)

// puppetTypeDirs are where Puppet's own types live, per packaging (Debian's ruby
// library, Puppet's all-in-one packages, a gem).
var puppetTypeDirs = []string{
	"/usr/lib/ruby/vendor_ruby/puppet/type",
	"/opt/puppetlabs/puppet/lib/ruby/vendor_ruby/puppet/type",
}

// Unknown returns those of types ("Host", "Postgresql_psql") that neither Puppet
// nor a module on the module path defines, as far as can be told from the files:
// lib/puppet/type/<name>.rb. When Puppet's own types cannot be found at all it
// returns nil, and Puppet itself will say what it does not know.
func (r *Runner) Unknown(environment string, types []string) []string {
	var dirs []string
	candidates := r.cfg.TypeDirs
	if candidates == nil {
		candidates = puppetTypeDirs
		gems, _ := filepath.Glob("/var/lib/gems/*/gems/puppet-*/lib/puppet/type")
		candidates = append(candidates[:len(candidates):len(candidates)], gems...)
	}
	for _, d := range candidates {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	vendored, _ := filepath.Glob("/opt/puppetlabs/puppet/vendor_modules/*/lib/puppet/type")
	dirs = append(dirs, vendored...)
	if r.cfg.LibDir != "" {
		dirs = append(dirs, filepath.Join(r.cfg.LibDir, "puppet", "type"))
	}
	for _, mp := range r.modulePath(environment) {
		mods, _ := filepath.Glob(filepath.Join(mp, "*", "lib", "puppet", "type"))
		dirs = append(dirs, mods...)
	}
	var unknown []string
	for _, t := range types {
		name := strings.ToLower(t) + ".rb"
		found := false
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				found = true
				break
			}
		}
		if !found {
			unknown = append(unknown, t)
		}
	}
	return unknown
}
