package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mgmt-puppet/mgmt-puppet/compare"
	"github.com/mgmt-puppet/mgmt-puppet/delegate"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/report"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

type compareOptions struct {
	json       bool
	puppet     string
	modulepath string
	keep       string
	agent      bool
}

func newCompareCommand() *cobra.Command {
	o := &compareOptions{}
	cmd := &cobra.Command{
		Use:   "compare FILE|-",
		Short: "Run puppet apply --noop and mgmt-puppet --noop on a catalog and show where they disagree",
		Long: `Side-by-side migration testing on a live host: real "puppet apply --catalog --noop"
and mgmt-puppet in noop run on the same catalog; neither changes anything. Their
reports are compared resource by resource and property by property: what each finds
out of sync, and what it would change. Exit 0 when they agree, 2 when they do not,
1 when the comparison could not run.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.agent {
				return nil // the agents' flags
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.agent {
				return o.runAgents(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return o.run(cmd.Context(), args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.json, "json", false, "print the comparison as JSON")
	f.StringVar(&o.puppet, "puppet", "puppet", "the puppet command")
	f.StringVar(&o.modulepath, "modulepath", defaultModulePath, "the module path for both tools: where module types and puppet:///modules/ sources are found "+
		"($environment: the catalog's). Puppet's facter also runs the modules' custom facts, which can take seconds (Debian's apt module)")
	f.StringVar(&o.keep, "keep-reports", "", "save both noop reports in this folder (puppet.yaml, mgmt-puppet.yaml)")
	f.BoolVar(&o.agent, "agent", false, "compare `puppet agent --test --noop` and `mgmt-puppet agent --test --noop` on this node instead, "+
		"both given the arguments after -- (--server, --certname...)")
	return cmd
}

// comparison is the --json output.
type comparison struct {
	Agree       bool                 `json:"agree"`
	Resources   int                  `json:"resources"`
	OutOfSync   int                  `json:"out_of_sync"`
	Differences []compare.Difference `json:"differences"`
	PuppetTime  float64              `json:"puppet_seconds"`
	MgmtTime    float64              `json:"mgmt_puppet_seconds"`
}

func (o *compareOptions) run(ctx context.Context, path string, stdout, stderr io.Writer) error {
	tmp, err := os.MkdirTemp("", "mgmt-puppet-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// Both tools read the same file; puppet wants bare JSON, without the Notice
	// line that `puppet catalog find` prints first.
	data, err := readAll(path)
	if err != nil {
		return err
	}
	if i := bytes.IndexByte(data, '{'); i > 0 {
		data = data[i:]
	}
	catalogFile := filepath.Join(tmp, "catalog.json")
	if err := os.WriteFile(catalogFile, data, 0o600); err != nil {
		return err
	}
	modulepath := splitPath(o.modulepath)
	// puppet apply --catalog has no file server: puppet:///modules/ sources are
	// given to it as the local files mgmt-puppet reads.
	theirCatalog := filepath.Join(tmp, "puppet-catalog.json")
	if err := os.WriteFile(theirCatalog, localModuleSources(data, modulepath), 0o600); err != nil {
		return err
	}
	runner := delegate.NewRunner(delegate.Config{Puppet: o.puppet, ModulePath: modulepath})
	defer runner.Close()
	cat, res, err := load(catalogFile, translate.Options{ModulePath: modulepath, Delegate: runner, Noop: true}, stderr, stderr)
	if err != nil {
		return err
	}

	start := time.Now()
	theirs, err := o.puppetNoop(ctx, theirCatalog, tmp, cat.Environment)
	if err != nil {
		fmt.Fprintf(stderr, "Error: puppet apply --noop: %v\n", err)
		return exitError{1}
	}
	puppetTime := time.Since(start)

	start = time.Now()
	rec := report.NewRecorder(report.Run{Host: cat.Name, ConfigurationVersion: cat.Version,
		CatalogUUID: cat.CatalogUUID, Environment: cat.Environment, Noop: true}, engine.Notice)
	eng, err := engine.New(engine.Config{Noop: true, Observer: rec})
	if err != nil {
		return err
	}
	if _, err := eng.Run(ctx, res.Graph); err != nil {
		fmt.Fprintf(stderr, "Error: mgmt-puppet --noop: %v\n", err)
		return exitError{1}
	}
	var ours bytes.Buffer
	if err := rec.WriteYAML(&ours); err != nil {
		return err
	}
	mgmtTime := time.Since(start)

	if o.keep != "" {
		if err := o.keepReports(theirs, ours.Bytes()); err != nil {
			return err
		}
	}
	a, err := compare.ReadReport(bytes.NewReader(theirs))
	if err != nil {
		return fmt.Errorf("puppet's report: %w", err)
	}
	b, err := compare.ReadReport(bytes.NewReader(ours.Bytes()))
	if err != nil {
		return fmt.Errorf("mgmt-puppet's report: %w", err)
	}
	c := comparison{Differences: compare.WithoutGenerated(compare.Diff(a, b), generatedRoots(res.Graph)),
		PuppetTime: puppetTime.Seconds(), MgmtTime: mgmtTime.Seconds()}
	c.Resources, c.OutOfSync = compare.Counts(a, b)
	return o.verdict(c, stdout)
}

// verdict prints the comparison, as JSON with --json; exit 2 when they disagree.
func (o *compareOptions) verdict(c comparison, stdout io.Writer) error {
	c.Agree = len(c.Differences) == 0
	if c.Differences == nil {
		c.Differences = []compare.Difference{}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(c); err != nil {
			return err
		}
	} else {
		for _, d := range c.Differences {
			fmt.Fprintln(stdout, d)
		}
		verdict := "AGREE"
		if !c.Agree {
			verdict = fmt.Sprintf("DISAGREE on %d points", len(c.Differences))
		}
		fmt.Fprintf(stdout, "%s: %d resources, %d out of sync; puppet took %.2f s, mgmt-puppet %.2f s\n",
			verdict, c.Resources, c.OutOfSync, c.PuppetTime, c.MgmtTime)
	}
	if !c.Agree {
		return exitError{2}
	}
	return nil
}

// generatedRoots lists the paths under which Puppet generates resources of its own
// that mgmt-puppet reports as lines of the generating resource: recursing Files and
// Tidies (run by Puppet, which generates them).
func generatedRoots(g *engine.Graph) []string {
	var roots []string
	for _, v := range g.Vertices() {
		if f, ok := v.Resource.(*resources.File); ok && f.Recurse != "" && f.Recurse != "false" {
			roots = append(roots, f.Path)
		}
		if m, ok := v.Data.(*translate.Meta); ok && !m.Whit && m.Type == "Tidy" {
			roots = append(roots, m.Title)
		}
	}
	return roots
}

// localModuleSources returns the catalog data with every puppet:///modules/ source
// of a File replaced by the local file it names under modulePath (the data as it
// is when it cannot be read).
func localModuleSources(data []byte, modulePath []string) []byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var cat map[string]any
	if err := dec.Decode(&cat); err != nil {
		return data
	}
	list, _ := cat["resources"].([]any)
	changed := false
	local := func(v any) any {
		if s, ok := v.(string); ok {
			if p, ok := resources.LocalSource(s, &resources.ModuleRoots{Dirs: modulePath}); ok {
				changed = true
				return p
			}
		}
		return v
	}
	for _, r := range list {
		res, _ := r.(map[string]any)
		params, _ := res["parameters"].(map[string]any)
		if res["type"] != "File" || params == nil {
			continue
		}
		switch src := params["source"].(type) {
		case string:
			params["source"] = local(src)
		case []any:
			for i := range src {
				src[i] = local(src[i])
			}
		}
	}
	if !changed {
		return data
	}
	out, err := json.Marshal(cat)
	if err != nil {
		return data
	}
	return out
}

// puppetNoop runs puppet apply --noop on catalogFile with throwaway directories
// under tmp, so that the host's own Puppet state is not touched, and returns the
// report it wrote. Its --basemodulepath is the module path with $environment
// replaced by the catalog's environment, as mgmt-puppet reads it.
func (o *compareOptions) puppetNoop(ctx context.Context, catalogFile, tmp, environment string) ([]byte, error) {
	modules := strings.ReplaceAll(strings.Join(splitPath(o.modulepath), ":"), "$environment", environment)
	if modules == "" {
		// No module path: an empty folder, not Puppet's own default.
		modules = filepath.Join(tmp, "modules")
		if err := os.MkdirAll(modules, 0o755); err != nil {
			return nil, err
		}
	}
	reportFile := filepath.Join(tmp, "puppet-report.yaml")
	cmd := exec.CommandContext(ctx, o.puppet, "apply", "--catalog", catalogFile, "--noop", "--color", "false",
		"--confdir", filepath.Join(tmp, "conf"), "--vardir", filepath.Join(tmp, "var"),
		"--codedir", filepath.Join(tmp, "code"), "--publicdir", filepath.Join(tmp, "public"),
		"--basemodulepath", modules, "--lastrunreport", reportFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	data, err := os.ReadFile(reportFile)
	if err != nil {
		return nil, fmt.Errorf("no report: %w\n%s", err, out)
	}
	return data, nil
}

func (o *compareOptions) keepReports(theirs, ours []byte) error {
	if err := os.MkdirAll(o.keep, 0o755); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"puppet.yaml": theirs, "mgmt-puppet.yaml": ours} {
		if err := replaceFile(filepath.Join(o.keep, name), func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// readAll reads path, or stdin for "-".
func readAll(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}
