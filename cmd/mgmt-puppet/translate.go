package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mgmt-puppet/mgmt-puppet/delegate"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

type translateOptions struct {
	format         string
	tags, skipTags []string
	modulepath     string
	serial         bool
	delegate       delegateOptions
}

func newTranslateCommand() *cobra.Command {
	o := &translateOptions{}
	cmd := &cobra.Command{
		Use:   "translate [FILE|-]",
		Short: "Print the native resource graph of a catalog and what is not supported yet",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "-"
			if len(args) == 1 {
				path = args[0]
			}
			return o.run(path, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "text", "output format: text, json or dot")
	f.StringSliceVar(&o.tags, "tags", nil, "select only resources with one of these tags")
	f.StringSliceVar(&o.skipTags, "skip-tags", nil, "leave out resources with one of these tags")
	f.StringVar(&o.modulepath, "modulepath", defaultModulePath, "where modules are found ($environment: the catalog's)")
	f.BoolVar(&o.serial, "serial", false, "order every resource after the one puppet apply applies before it, as run --serial does")
	o.delegate.flags(f)
	return cmd
}

func (o *translateOptions) run(path string, stdout, stderr io.Writer) error {
	switch o.format {
	case "text", "json", "dot":
	default:
		return fmt.Errorf("--format %q: want text, json or dot", o.format)
	}
	modulepath := splitPath(o.modulepath)
	_, res, loadErr := load(path, translate.Options{Tags: o.tags, SkipTags: o.skipTags, ModulePath: modulepath,
		Delegate: o.delegate.runner(modulepath, "", nil), DelegateTypes: o.delegate.types, Serial: o.serial}, stderr, stderr)
	if res == nil {
		return loadErr
	}
	var err error
	switch o.format {
	case "text":
		err = writeText(stdout, res)
	case "json":
		err = writeJSON(stdout, res)
	case "dot":
		err = res.Graph.WriteDot(stdout, "catalog")
	}
	if err != nil {
		return err
	}
	return loadErr
}

// parallelism says how much of a catalog may run at once.
type parallelism struct {
	// Resources is the number evaluated: a serial run's length.
	Resources int `json:"resources"`
	// CriticalPath is the number of resources on the longest chain, orderings
	// included: the length of the run however many run at once.
	CriticalPath int `json:"critical_path"`
	// RelationshipsPath is that length with the relationships alone, without the
	// orderings added for safety.
	RelationshipsPath int `json:"relationships_path"`
	Orderings         int `json:"orderings"`
}

func parallelismOf(res *translate.Result) parallelism {
	p := parallelism{Orderings: len(res.Orderings)}
	if len(res.Graph.Cycles()) > 0 {
		return p
	}
	for _, v := range res.Graph.Vertices() {
		if !v.Relay && !v.Skip {
			p.Resources++
		}
	}
	p.CriticalPath = res.Graph.CriticalPath(false)
	p.RelationshipsPath = res.Graph.CriticalPath(true)
	return p
}

func writeText(w io.Writer, res *translate.Result) error {
	fmt.Fprintf(w, "%-32s %8s %10s %10s %12s\n", "TYPE", "NATIVE", "CONTAINER", "DELEGATED", "UNSUPPORTED")
	for _, s := range res.Stats {
		fmt.Fprintf(w, "%-32s %8d %10d %10d %12d\n", s.Type, s.Native, s.Container, s.Delegated, s.Unsupported)
	}
	p := parallelismOf(res)
	fmt.Fprintf(w, "\nParallelism: %d resources; longest chain %d with the %d orderings added for safety, %d with the relationships alone\n",
		p.Resources, p.CriticalPath, p.Orderings, p.RelationshipsPath)
	fmt.Fprintln(w)
	for _, v := range res.Graph.Vertices() {
		if v.Relay {
			continue
		}
		state := ""
		switch {
		case v.Skip:
			state = " (skipped by tags)"
		case v.Noop:
			state = " (noop)"
		case v.Resource == nil:
			state = " (not supported)"
		}
		if _, ok := v.Resource.(*delegate.Resource); ok {
			state += " (run by Puppet)"
		}
		path := v.Name
		if m, ok := v.Data.(*translate.Meta); ok {
			path = m.Path()
		}
		fmt.Fprintf(w, "%s%s\n", path, state)
	}
	fmt.Fprintln(w)
	for _, e := range res.Graph.Edges() {
		if e.Order {
			continue // listed with their reasons below
		}
		arrow := "->"
		if e.Refresh {
			arrow = "~>"
		}
		fmt.Fprintf(w, "%s %s %s\n", e.From, arrow, e.To)
	}
	if len(res.Orderings) > 0 {
		fmt.Fprintf(w, "\nOrderings added: resources without a relationship that may interfere, in Puppet's order (%d)\n", len(res.Orderings))
		for _, o := range res.Orderings {
			fmt.Fprintf(w, "%s => %s: %s\n", o.Before, o.After, o.Reason)
		}
	}
	return nil
}

type jsonVertex struct {
	Name      string   `json:"name"`
	Path      string   `json:"path,omitempty"`
	Kind      string   `json:"kind"` // resource, boundary
	Supported bool     `json:"supported"`
	Skip      bool     `json:"skip,omitempty"`
	Noop      bool     `json:"noop,omitempty"`
	Tags      []string `json:"tags,omitempty"`
}

type jsonEdge struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Refresh bool   `json:"refresh,omitempty"`
	// Order: added so that resources that may interfere keep Puppet's order;
	// Reason says why.
	Order  bool   `json:"order,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func writeJSON(w io.Writer, res *translate.Result) error {
	out := struct {
		Types       []translate.TypeStat `json:"types"`
		Parallelism parallelism          `json:"parallelism"`
		Vertices    []jsonVertex         `json:"vertices"`
		Edges       []jsonEdge           `json:"edges"`
	}{Types: res.Stats, Parallelism: parallelismOf(res)}
	for _, v := range res.Graph.Vertices() {
		jv := jsonVertex{Name: v.Name, Kind: "resource", Supported: v.Resource != nil, Skip: v.Skip, Noop: v.Noop}
		if v.Relay {
			jv.Kind, jv.Supported = "boundary", true
		}
		if m, ok := v.Data.(*translate.Meta); ok {
			jv.Path, jv.Tags = m.Path(), m.Tags
		}
		out.Vertices = append(out.Vertices, jv)
	}
	reasons := map[[2]string]string{}
	for _, o := range res.Orderings {
		reasons[[2]string{o.Before, o.After}] = o.Reason
	}
	for _, e := range res.Graph.Edges() {
		je := jsonEdge{From: e.From, To: e.To, Refresh: e.Refresh, Order: e.Order}
		if e.Order {
			je.Reason = reasons[[2]string{e.From, e.To}]
		}
		out.Edges = append(out.Edges, je)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeDot writes the graph to path atomically.
func writeDot(path string, res *translate.Result) error {
	if err := replaceFile(path, func(w io.Writer) error { return res.Graph.WriteDot(w, "catalog") }); err != nil {
		return fmt.Errorf("--graphviz: %w", err)
	}
	return nil
}

// replaceFile writes path through write: into a temporary file beside it, synced,
// then renamed over path, so that path is never seen half-written.
func replaceFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails once renamed
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
