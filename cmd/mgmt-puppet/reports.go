package main

import (
	"context"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/puppetlog"
	"github.com/mgmt-puppet/mgmt-puppet/report"
)

// observers passes every event to each observer in turn.
type observers []engine.Observer

func (os observers) Observe(e engine.Event) {
	for _, o := range os {
		o.Observe(e)
	}
}

// reportRate bounds how often the rolling report is rewritten after repairs.
const reportRate = time.Second

// reportWriter records the run and writes the report and summary files: at the end
// of the run and, in the continuous mode, after the first pass and after repairs
// (at most once per reportRate), so that the files always tell the latest state.
type reportWriter struct {
	rec                 *report.Recorder
	reportPath, summary string
	log                 *puppetlog.Logger
	kick                chan struct{} // capacity 1: a write is wanted
	mu                  sync.Mutex    // one write at a time
	failed              bool          // a write failed: said once
}

func newReportWriter(rec *report.Recorder, reportPath, summary string, log *puppetlog.Logger) *reportWriter {
	return &reportWriter{rec: rec, reportPath: reportPath, summary: summary, log: log, kick: make(chan struct{}, 1)}
}

// Observe implements engine.Observer.
func (w *reportWriter) Observe(e engine.Event) {
	w.rec.Observe(e)
	if e.Kind == engine.EventPassDone || e.Kind == engine.EventEvaluated && e.Corrective && (e.Changed || e.Failure) {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// loop writes the files when kicked, until ctx ends.
func (w *reportWriter) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		w.write()
		select {
		case <-ctx.Done():
			return
		case <-time.After(reportRate):
		}
	}
}

func (w *reportWriter) write() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reportPath != "" {
		write := w.rec.WriteYAML
		if strings.HasSuffix(w.reportPath, ".json") {
			write = w.rec.WriteJSON
		}
		w.check(replaceFile(w.reportPath, write))
	}
	if w.summary != "" {
		w.check(replaceFile(w.summary, func(f io.Writer) error { return w.rec.WriteSummary(f) }))
	}
}

func (w *reportWriter) check(err error) {
	if err != nil && !w.failed {
		w.failed = true
		w.log.Printf(engine.Err, "Could not write report: %v", err)
	}
}
