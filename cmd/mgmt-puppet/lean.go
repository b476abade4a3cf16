//go:build !exported

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/puppetlog"
)

// This is the lean build, without etcd: linking etcd's server and client costs
// every start of the program about 30 ms and 15 MB, which a run that does not
// exchange resources should not pay. Exported resources (the puppetdb command and
// run's etcd flags) are served by mgmt-puppet-exported, the same program built
// with -tags exported, which this one hands the command line to.

// exportedBinary is the name of the build with exported resources.
const exportedBinary = "mgmt-puppet-exported"

// exportOptions has no flags in the lean build.
type exportOptions struct{}

func (o *exportOptions) flags(*pflag.FlagSet) {}

// liveCollection is never made in the lean build.
type liveCollection struct{}

func (o *exportOptions) begin(_ context.Context, cat *catalog.Catalog, _ bool, _ *puppetlog.Logger) (*liveCollection, *catalog.Catalog, error) {
	return nil, cat, nil
}

func (l *liveCollection) keep(context.Context, func(context.Context, *catalog.Catalog) error) {}

func (l *liveCollection) close() {}

func extraCommands() []*cobra.Command { return nil }

// needsExported reports whether args ask for exported resources.
func needsExported(args []string) bool {
	if len(args) > 0 && args[0] == "agent" {
		return false // its --ssldir and --certname are puppet agent's
	}
	for i, a := range args {
		if i == 0 && a == "puppetdb" {
			return true
		}
		name, _, _ := strings.Cut(a, "=")
		switch {
		case strings.HasPrefix(name, "--etcd-"), name == "--puppetdb-listen", name == "--collect-types",
			name == "--export-lease", name == "--ssldir", name == "--certname", strings.HasPrefix(name, "--certificate-"),
			name == "--report-ttl", name == "--node-ttl", name == "--node-purge-ttl", name == "--gc-interval":
			return true
		}
	}
	return false
}

// handOver replaces this process with mgmt-puppet-exported, found next to this
// program, when args ask for exported resources; it returns only when they do not,
// or with the reason it could not.
func handOver(args []string) error {
	if !needsExported(args) {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	full := filepath.Join(filepath.Dir(self), exportedBinary)
	if _, err := os.Stat(full); err != nil {
		return fmt.Errorf("exported resources need %s next to %s (make build, or go build -tags exported -o %s ./cmd/mgmt-puppet)",
			exportedBinary, self, full)
	}
	return syscall.Exec(full, append([]string{full}, args...), os.Environ())
}
