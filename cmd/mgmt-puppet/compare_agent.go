package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/compare"
)

// runAgents is `compare --agent`: real `puppet agent --test --noop`, then
// `mgmt-puppet agent --test --noop`, on this node, with the same arguments;
// their reports (written aside, so that the node's last_run_report.yaml and
// last_run_summary.yaml are the ones of its real runs) are compared as compare
// compares puppet apply's. Both are noop runs; their reports reach the server as
// any noop run's do.
func (o *compareOptions) runAgents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	tmp, err := os.MkdirTemp("", "mgmt-puppet-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	run := func(name string, command ...string) ([]byte, time.Duration, error) {
		rep := filepath.Join(tmp, name+"-report.yaml")
		command = append(command, "agent", "--test", "--noop", "--color", "false",
			"--lastrunreport", rep, "--lastrunfile", filepath.Join(tmp, name+"-summary.yaml"))
		cmd := exec.CommandContext(ctx, command[0], append(command[1:], args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		took := time.Since(start)
		// --test exits 0 or 2 in noop, 4 or 6 with failures: a run was made.
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() != 1) {
			return nil, took, fmt.Errorf("%s agent: %v\n%s", name, err, out.String())
		}
		data, err := os.ReadFile(rep)
		if err != nil {
			return nil, took, fmt.Errorf("%s agent wrote no report: %v\n%s", name, err, out.String())
		}
		return data, took, nil
	}
	theirs, puppetTime, err := run("puppet", o.puppet)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitError{1}
	}
	ours, mgmtTime, err := run("mgmt-puppet", self)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitError{1}
	}
	if o.keep != "" {
		if err := o.keepReports(theirs, ours); err != nil {
			return err
		}
	}
	a, err := compare.ReadReport(bytes.NewReader(theirs))
	if err != nil {
		return fmt.Errorf("puppet's report: %w", err)
	}
	b, err := compare.ReadReport(bytes.NewReader(ours))
	if err != nil {
		return fmt.Errorf("mgmt-puppet's report: %w", err)
	}
	// Puppet's agent adds its default schedules and filebucket to every catalog
	// it applies; they have nothing to sync, and mgmt-puppet does not list them.
	for ref, res := range a {
		if _, ours := b[ref]; !ours && compare.AgentDefault(ref) && len(res.Changes) == 0 && !res.Failed && !res.Skipped {
			delete(a, ref)
		}
	}
	// The files Puppet generates are below a File or a Tidy of the catalog,
	// which both reports list.
	c := comparison{Differences: compare.WithoutGenerated(compare.Diff(a, b), compare.Roots(b)),
		PuppetTime: puppetTime.Seconds(), MgmtTime: mgmtTime.Seconds()}
	c.Resources, c.OutOfSync = compare.Counts(a, b)
	return o.verdict(c, stdout)
}
