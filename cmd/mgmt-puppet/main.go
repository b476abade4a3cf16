// Command mgmt-puppet runs catalogs compiled by Puppet on a parallel, event-driven
// engine: `puppet catalog find NODE --terminus compiler --render-as rich_data_json |
// mgmt-puppet run -`.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// exitError carries an exit code out of a command; its message, if any, has been
// printed already.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCommand() *cobra.Command {
	var cpuprofile, memprofile string
	var profile *os.File
	root := &cobra.Command{
		Use:           "mgmt-puppet",
		Short:         "Run compiled Puppet catalogs on a parallel, event-driven engine",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if cpuprofile == "" {
				return nil
			}
			f, err := os.Create(cpuprofile)
			if err != nil {
				return err
			}
			profile = f
			return pprof.StartCPUProfile(f)
		},
		PersistentPostRunE: func(cmd *cobra.Command, args []string) error {
			if memprofile != "" {
				if err := writeHeapProfile(memprofile); err != nil {
					return err
				}
			}
			if profile == nil {
				return nil
			}
			pprof.StopCPUProfile()
			return profile.Close()
		},
	}
	root.PersistentFlags().StringVar(&cpuprofile, "cpuprofile", "", "write a Go CPU profile to this file (for developers)")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentFlags().StringVar(&memprofile, "memprofile", "", "write a Go heap profile to this file at exit (for developers)")
	_ = root.PersistentFlags().MarkHidden("memprofile")
	root.AddCommand(newRunCommand(), newTranslateCommand(), newCompareCommand(), newAgentCommand())
	root.AddCommand(extraCommands()...)
	return root
}

// writeHeapProfile writes the heap profile (allocations since start, and what the
// last garbage collection found live) to file.
func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// gcPercent is the garbage collector's target unless GOGC says otherwise: the heap
// may grow by 30% of its live size between collections, not by all of it. The
// program holds a large graph that hardly changes and makes little garbage once
// it runs, so this costs little time: a no-op of 100,000 files peaked at 295 MB
// and 1.6-1.8 s with Go's default of 100, at 251 MB and 1.6-1.8 s with 50. With
// its heap on huge pages (readCatalog), whose 2 MiB granules cost some memory,
// and the translation on both CPUs, which allocates faster than the collector
// marks, `go test -bench Scale/files=100000/apply=noop` peaked at 252-254 MB with
// 40 and at 236-239 MB with 30, in 1.43-1.59 s and 1.58-1.60 s on a slow hour of
// the VM (1.21 s with 40 in a calmer one).
const gcPercent = 30

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if err := handOver(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
	err := newRootCommand().Execute()
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}
