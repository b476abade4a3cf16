package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/internal/hugeheap"
	"github.com/mgmt-puppet/mgmt-puppet/puppetlog"
	"github.com/mgmt-puppet/mgmt-puppet/report"
	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
	"github.com/mgmt-puppet/mgmt-puppet/resources/filecache"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

type runOptions struct {
	noop              bool
	tags, skipTags    []string
	convergedTimeout  int
	fightAfter        int
	fsyncEach         bool
	fileCache         string
	showDiff          bool
	parallelism       int
	serial            bool
	detailedExitcodes bool
	graphviz          string
	color             string
	verbose, debug    bool
	report, summary   string
	modulepath        string
	delegate          delegateOptions
	exports           exportOptions
}

// defaultModulePath is Debian's Puppet module path.
const defaultModulePath = "/etc/puppet/code/environments/$environment/modules:/etc/puppet/code/modules:/usr/share/puppet/modules"

// defaultFileCache is where run remembers the files it found in sync.
const defaultFileCache = "/var/cache/mgmt-puppet/files.cache"

// splitPath splits a colon-separated path list, dropping empty entries.
func splitPath(s string) []string {
	var out []string
	for _, d := range strings.Split(s, ":") {
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

func newRunCommand() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run [FILE|-]",
		Short: "Apply a compiled catalog, then keep it converged",
		Long: `Apply a catalog compiled by Puppet (JSON or rich_data_json; "-" reads stdin).
Independent resources run in parallel. With --converged-timeout other than 0, every
resource stays watched afterwards and drift is repaired as it happens.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "-"
			if len(args) == 1 {
				path = args[0]
			}
			return o.run(cmd.Context(), path)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.noop, "noop", false, "check everything, change nothing")
	f.StringSliceVar(&o.tags, "tags", nil, "apply only resources with one of these tags")
	f.StringSliceVar(&o.skipTags, "skip-tags", nil, "do not apply resources with one of these tags")
	f.IntVar(&o.convergedTimeout, "converged-timeout", 0, "seconds to keep watching once converged: 0 exits after the first pass, -1 runs until a signal")
	f.BoolVar(&o.fsyncEach, "fsync-each", false, "fsync every written file on its own, rather than one syncfs for files written together (for servers busy writing other data to the same file system)")
	f.StringVar(&o.fileCache, "file-cache", defaultFileCache, "where a run that exits after the first pass remembers the files it read, as rsync's quick check does: a file whose inode, size, mtime and ctime are as then is not read again (\"\": read every file, as Puppet does)")
	f.IntVar(&o.fightAfter, "fight-after", 5, "a resource repaired this many times within 10 s is fought over by another program: its repairs wait 1 s, doubling up to 30 min, Puppet's run interval (0: never slow down)")
	f.IntVar(&o.parallelism, "parallelism", engine.DefaultParallelism(), "resources evaluated at once")
	f.BoolVar(&o.serial, "serial", false, "apply one resource at a time, in the order puppet apply would (only resources that cannot interfere run at once otherwise)")
	f.BoolVar(&o.showDiff, "show_diff", false, "log a unified diff of a file's content before it changes, as puppet apply --show_diff (a file's show_diff => false still hides it)")
	f.BoolVar(&o.detailedExitcodes, "detailed-exitcodes", false, "exit 0 no changes, 2 changes, 4 failures, 6 both, 1 could not run")
	f.StringVar(&o.graphviz, "graphviz", "", "write the resource graph to this file in dot format")
	f.StringVar(&o.color, "color", "auto", "colour log lines: auto, true, false or ansi")
	f.StringVar(&o.modulepath, "modulepath", defaultModulePath, "where puppet:///modules/ file sources are found ($environment: the catalog's)")
	f.StringVar(&o.report, "report", "", "write Puppet's run report (last_run_report format) to this file; JSON when it ends in .json")
	f.StringVar(&o.summary, "summary", "", "write Puppet's last_run_summary.yaml to this file")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log info lines")
	f.BoolVarP(&o.debug, "debug", "d", false, "log debug lines")
	o.delegate.flags(f)
	o.exports.flags(f)
	return cmd
}

func (o *runOptions) validate() error {
	switch {
	case o.parallelism < 1:
		return fmt.Errorf("--parallelism %d: must be at least 1", o.parallelism)
	case o.fightAfter < 0:
		return fmt.Errorf("--fight-after %d: must be 0 (never) or a number of repairs", o.fightAfter)
	case o.convergedTimeout < -1:
		return fmt.Errorf("--converged-timeout %d: must be -1, 0 or a number of seconds", o.convergedTimeout)
	}
	switch o.color {
	case "auto", "true", "false", "ansi":
	default:
		return fmt.Errorf("--color %q: want auto, true, false or ansi", o.color)
	}
	return nil
}

// level is the lowest level logged.
func (o *runOptions) level() engine.Level {
	switch {
	case o.debug:
		return engine.Debug
	case o.verbose:
		return engine.Info
	}
	return engine.Notice
}

func (o *runOptions) logger() *puppetlog.Logger {
	return puppetlog.New(os.Stdout, o.level(), o.colored())
}

// colored says whether console lines are coloured: --color true or ansi, or auto
// on a terminal.
func (o *runOptions) colored() bool {
	if o.color == "auto" {
		_, err := unix.IoctlGetTermios(int(os.Stdout.Fd()), unix.TCGETS)
		return err == nil
	}
	return o.color == "true" || o.color == "ansi"
}

// bigGraph is the size of graph after whose translation run collects garbage at
// once: with 100,000 files the collection takes about 40 ms, and the no-op's peak
// RSS went from 244-266 MB to 236-243 MB over four runs.
const bigGraph = 10000

func (o *runOptions) run(ctx context.Context, path string) error {
	if err := o.validate(); err != nil {
		return err
	}
	start := time.Now()
	if o.fsyncEach {
		atomicfile.SetFlush(atomicfile.FlushFsync)
	}
	log := o.logger()
	modulepath := splitPath(o.modulepath)
	runner := o.delegate.runner(modulepath, "", nil)
	if runner != nil {
		defer runner.Close()
	}
	opts := translate.Options{Tags: o.tags, SkipTags: o.skipTags, ModulePath: modulepath,
		Delegate: runner, DelegateTypes: o.delegate.types, Serial: o.serial, Noop: o.noop, ShowDiff: o.showDiff}
	// Only a run that ends after its first pass: a watching one reads what an
	// event says changed, and would only add entries.
	var known *filecache.Cache
	if o.fileCache != "" && o.convergedTimeout == 0 {
		known = filecache.New(o.fileCache)
	}
	cat, err := readCatalog(path, os.Stderr)
	if err != nil {
		return err
	}
	log.Printf(engine.Debug, "Read the catalog of %d resources in %.2f seconds", len(cat.Resources), time.Since(start).Seconds())
	// With exported resources, the catalog as the node's collectors answer now,
	// which may have changed since the compile.
	live, applied, err := o.exports.begin(ctx, cat, o.convergedTimeout != 0, log)
	if err != nil {
		log.Printf(engine.Err, "Could not run: %v", err)
		return exitError{1}
	}
	if live != nil {
		defer live.close()
	}
	// What the report says of the catalog, so that nothing holds the catalog once
	// it is translated.
	header := report.Run{Host: cat.Name, ConfigurationVersion: cat.Version,
		CatalogUUID: cat.CatalogUUID, Environment: cat.Environment, Noop: o.noop}
	translated := time.Now()
	first := opts
	// Without live exports nothing reads the catalog's resources again: their
	// parameters may go as they are translated, and no other graph replaces this
	// one.
	first.Consume = live == nil
	first.Final = live == nil
	first.FileCache = known
	res, err := translateCatalog(applied, path, first, os.Stdout, os.Stderr)
	if err != nil {
		return err
	}
	log.Printf(engine.Debug, "Translated the catalog into a graph of %d vertices in %.2f seconds", res.Graph.Len(), time.Since(translated).Seconds())
	if res.Graph.Len() >= bigGraph {
		// The catalog and the translation's own data are garbage now: collect them
		// before the engine allocates, so that the heap does not grow on them.
		runtime.GC()
	}
	// The heap is filled: from now on it may shrink (hugeheap).
	hugeheap.Release()
	// Read now, into the heap the translation left.
	if err := known.Load(); err != nil {
		log.Printf(engine.Debug, "File cache: %v", err)
	}
	var observer engine.Observer = log
	var reports *reportWriter
	if o.report != "" || o.summary != "" {
		header.ConfigRetrieval = time.Since(start)
		rec := report.NewRecorder(header, o.level())
		rec.Skipped(skipped(res))
		reports = newReportWriter(rec, o.report, o.summary, log)
		observer = observers{log, reports}
	}
	if o.graphviz != "" {
		if err := writeDot(o.graphviz, res); err != nil {
			return err
		}
	}
	timeout := time.Duration(o.convergedTimeout) * time.Second
	if o.convergedTimeout < 0 {
		timeout = -1
	}
	eng, err := engine.New(engine.Config{
		Parallelism:      o.parallelism,
		Noop:             o.noop,
		ConvergedTimeout: timeout,
		Observer:         observer,
		FightRepairs:     fightRepairs(o.fightAfter),
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process the usual way
	}()
	if reports != nil && o.convergedTimeout != 0 {
		loopCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		go reports.loop(loopCtx)
	}
	if live != nil && o.convergedTimeout != 0 {
		liveCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		live.keep(liveCtx, applier(eng, opts, log))
	}
	result, err := eng.Run(ctx, res.Graph)
	if known != nil {
		trusted, recorded := known.Stats()
		log.Printf(engine.Debug, "File cache: %d files trusted unread, %d read and remembered", trusted, recorded)
	}
	if err := known.Save(); err != nil {
		log.Printf(engine.Debug, "File cache not saved: %v", err)
	}
	if reports != nil {
		reports.write()
	}
	if err != nil {
		log.Printf(engine.Err, "Could not run: %v", err)
		return exitError{1}
	}
	if !o.detailedExitcodes {
		return nil
	}
	if code := exitCode(result); code != 0 {
		return exitError{code}
	}
	return nil
}

// exitCode is a run's detailed exit code: 2 for changes, 4 for failures, 6 both.
func exitCode(result engine.Result) int {
	code := 0
	if result.Changed > 0 || result.Restarted > 0 {
		code |= 2
	}
	if result.Failed > 0 || result.FailedToRestart > 0 {
		code |= 4
	}
	return code
}

// applier translates a rebuilt catalog and swaps it into eng; a catalog that does
// not translate is refused with its problems, and the running graph stays.
func applier(eng *engine.Engine, opts translate.Options, log *puppetlog.Logger) func(ctx context.Context, c *catalog.Catalog) error {
	return func(ctx context.Context, c *catalog.Catalog) error {
		res, err := translate.Translate(c, opts)
		if err != nil {
			return fmt.Errorf("collected resources not applied: %w", err)
		}
		log.Printf(engine.Info, "Collected resources changed: applying the new graph")
		return eng.Swap(ctx, res.Graph)
	}
}

// fightRepairs is the engine's FightRepairs for --fight-after n: 0 is never.
func fightRepairs(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
