package main

import (
	"os/exec"
	"time"

	"github.com/spf13/pflag"

	"github.com/mgmt-puppet/mgmt-puppet/delegate"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// delegateOptions are the flags of delegation to Puppet.
type delegateOptions struct {
	puppet   string
	types    []string
	interval time.Duration
}

func (d *delegateOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&d.puppet, "puppet", "puppet", "the puppet command that runs the types without a native implementation")
	f.StringSliceVar(&d.types, "delegate-types", nil, "native types to hand to Puppet all the same (Service,Package...)")
	f.DurationVar(&d.interval, "delegate-interval", 30*time.Minute,
		"how often resources run by Puppet are checked again after the first pass (0: never); Puppet's types give no events")
}

// runner returns the runner for delegated resources, or nil when Puppet is not
// installed: then the translation lists the resources that nothing can run.
// sources, when set, are an agent's copies of its server's files
// (delegate.Config.Sources).
func (d *delegateOptions) runner(modulepath []string, libdir string, sources *resources.ModuleRoots) *delegate.Runner {
	path, err := exec.LookPath(d.puppet)
	if err != nil {
		return nil
	}
	return delegate.NewRunner(delegate.Config{Puppet: path, ModulePath: modulepath, LibDir: libdir, Sources: sources,
		Interval: d.interval})
}
