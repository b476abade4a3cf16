// Package report builds Puppet's run report (report_format 12, the format of
// last_run_report.yaml) and its last-run summary from the engine's events.
//
// A Recorder observes a run. Report gives its state at any time: after the first
// pass, and again after every drift repair in the continuous mode, where a repair
// is a corrective change. The report is written as Puppet writes it: YAML whose
// root is tagged !ruby/object:Puppet::Transaction::Report, or JSON (the report's
// data hash, as Puppet sends it to PuppetDB). Classes, stages and other containers
// are not resources in a report; tag-filtered resources are there, skipped.
package report
