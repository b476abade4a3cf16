package delegate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/compare"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Resource is one catalog resource that Puppet applies for us.
type Resource struct {
	runner     *Runner
	head       *catalog.Catalog // the catalog res comes from
	res        *catalog.Resource
	containers []*catalog.Resource // outermost first
	order      int                 // creation order: the translator makes them in catalog order
	seq        uint64              // the engine's start order (engine.Queued)
	// companions are resources of the catalog that Puppet must see in the
	// sub-catalog without applying them (noop, their lines dropped): those of the
	// type a Resources purges, which it would otherwise purge too.
	companions []*catalog.Resource
	// riders are resources that Puppet must apply in this resource's run, after
	// it: a datacat_collector's target, whose parameter the collector sets while
	// Puppet runs. A rider's own evaluation then takes the outcome that run left
	// for it (pending), without a Puppet run of its own.
	riders  []*Resource
	pending *outcome
	owner   *Resource // of a rider: the resource it rides with
	h       engine.Handle

	refresh     bool  // refresh events wait for the next CheckApply
	refreshNoop bool  // and they may only say what they would do
	refreshed   bool  // Puppet refreshed it (or said it would) in the last CheckApply
	refreshErr  error // and the refresh failed

	stop     context.CancelFunc
	stopOnce sync.Once
}

var (
	_ engine.Resource           = (*Resource)(nil)
	_ engine.Refresher          = (*Resource)(nil)
	_ engine.RefreshPreparer    = (*Resource)(nil)
	_ engine.RefreshInvalidator = (*Resource)(nil)
	_ engine.Offloaded          = (*Resource)(nil)
	_ engine.Queued             = (*Resource)(nil)
	_ engine.Unskippable        = (*Resource)(nil)
)

// Resource returns the delegated resource for res, a resource of catalog head
// that sits in containers (outermost first, as the catalog's containment edges say).
func (r *Runner) Resource(head *catalog.Catalog, res *catalog.Resource, containers []*catalog.Resource) *Resource {
	r.made++
	return &Resource{runner: r, head: head, res: res, containers: containers, order: r.made}
}

// SetRiders gives the resource its riders (see Resource.riders).
func (d *Resource) SetRiders(rs []*Resource) {
	d.riders = rs
	for _, r := range rs {
		r.owner = d
	}
}

// SetCompanions gives the resource its companions (see Resource.companions).
func (d *Resource) SetCompanions(rs []*catalog.Resource) { d.companions = rs }

// ProviderName is what reports name as the provider.
func (d *Resource) ProviderName() string { return "puppet" }

// Validate checks nothing: Puppet validates the parameters when it applies them.
func (d *Resource) Validate() error { return nil }

// Init keeps the handle.
func (d *Resource) Init(h engine.Handle) error {
	d.h = h
	return nil
}

// Offloaded says that Puppet does the work, for many resources at once.
func (d *Resource) Offloaded() {}

// Queue is the runner: it runs Puppet once at a time, on the resources in the
// order the engine started them, so that an order edge between two of them is
// kept inside one Puppet run.
func (d *Resource) Queue() any { return d.runner }

// Dispatched records the engine's start order.
func (d *Resource) Dispatched(seq uint64) { d.seq = seq }

// Watch pokes every Config.Interval: Puppet's types give no events. A rider is
// checked with its owner.
func (d *Resource) Watch(ctx context.Context) error {
	every := d.runner.cfg.Interval
	if every <= 0 || d.owner != nil {
		return nil
	}
	ctx, d.stop = context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				d.h.Poke()
			}
		}
	}()
	return nil
}

var _ engine.Unwatched = (*Resource)(nil)

// Unwatched says that Puppet's types give no events: a resource Puppet runs is
// looked at again when something it depends on is repaired.
func (d *Resource) Unwatched() {}

// Close stops the watch.
func (d *Resource) Close() error {
	d.stopOnce.Do(func() {
		if d.stop != nil {
			d.stop()
		}
	})
	return nil
}

// PrepareRefresh says whether the next CheckApply must refresh the resource too, or
// with noop say that it would.
func (d *Resource) PrepareRefresh(due, noop bool) { d.refresh, d.refreshNoop = due, noop }

// RefreshInvalidated is true when a refresh was passed on and Puppet neither did it
// nor said it would: the type does not refresh.
func (d *Resource) RefreshInvalidated() bool { return d.refresh && !d.refreshed }

// Refresh reports how the refresh, made by Puppet with CheckApply, went.
func (d *Resource) Refresh(ctx context.Context, apply bool) error { return d.refreshErr }

// CheckApply has Puppet apply (or, with apply false, check) the resource and tells
// the engine what Puppet did.
func (d *Resource) CheckApply(ctx context.Context, apply bool) (bool, error) {
	d.refreshed, d.refreshErr = false, nil
	var out outcome
	p := d.takePending()
	if p == nil && d.owner != nil {
		// A rider is only ever applied with its owner: run the owner again.
		d.runner.do(ctx, &request{res: d.owner, apply: apply})
		p = d.takePending()
	}
	if p != nil {
		out = *p // applied in the run of the resource it rides with
	} else {
		out = d.runner.do(ctx, &request{res: d, apply: apply, refresh: d.refresh, refreshNoop: d.refreshNoop || !apply})
	}
	if out.err != nil {
		return false, out.err
	}
	st := out.status
	path := st.path()
	used := make([]bool, len(st.Events))
	// change tells the engine of event i, once.
	change := func(i int) {
		if used[i] {
			return
		}
		used[i] = true
		ev := st.Events[i]
		d.h.Change(engine.Change{Property: ev.Property, Previous: compare.ShowValue(ev.Previous), Desired: compare.ShowValue(ev.Desired), Message: ev.Message})
	}
	var failure, refreshFailure string
	foreign := false
	for _, l := range out.logs {
		level := logLevel(l.Level)
		switch {
		case l.Source == path && strings.HasPrefix(l.Message, "Triggered 'refresh' from "):
			d.refreshed = true
		case l.Source == path && strings.HasPrefix(l.Message, "Would have triggered 'refresh' from "):
			// The engine says this itself, with its own count.
			d.refreshed = true
		case l.Source == path:
			switch {
			case level != engine.Err:
			case strings.HasPrefix(l.Message, "Failed to call refresh: "):
				d.refreshed = true
				refreshFailure = strings.TrimPrefix(l.Message, "Failed to call refresh: ")
			case refreshFailure == "": // not the refresh's own exception line
				failure = l.Message
			}
			d.h.Logf(level, "%s", l.Message)
		case strings.HasPrefix(l.Source, path+"/") && !strings.Contains(l.Source[len(path)+1:], "/"):
			prop := l.Source[len(path)+1:]
			if i := matchEvent(st, used, prop, l.Message); i >= 0 {
				change(i)
				continue
			}
			if level == engine.Err {
				failure = l.Message
			}
			d.h.PropertyLogf(level, prop, "%s", l.Message)
		case l.Source == "Puppet" || l.Source == "":
			d.h.Printf(level, "%s", l.Message)
		default:
			// A resource Puppet generated for this one (a Tidy's files): said as
			// Puppet said it.
			foreign = true
			d.h.Printf(level, "%s: %s", l.Source, l.Message)
		}
	}
	for i, ev := range st.Events {
		if ev.Property != "" && (ev.Status == "success" || ev.Status == "noop") {
			change(i)
		}
	}
	if refreshFailure != "" {
		d.refreshErr = engine.Reported(errors.New(refreshFailure))
	}
	if st.Failed && st.Skipped {
		return false, engine.Reported(engine.Unevaluated(unevaluatedError(st)))
	}
	if st.Failed && (!st.FailedToRestart || failedBeforeRefresh(st)) {
		return false, engine.Reported(failureError(st, failure))
	}
	inSync := !st.Changed && !st.OutOfSync && !foreign
	return inSync, nil
}

// DependencyFailed asks Puppet, in noop, what it would do with the resource, one of
// whose dependencies failed. When none of its type's providers is suitable here,
// Puppet fails it rather than skipping it: that outcome (a failure without events,
// whether noop or not) is kept for the CheckApply that follows. When its
// provider's prefetch fails, Puppet skips it and fails it too. Else it is skipped.
// Puppet's own lines of that run (a failed prefetch) are said, as Puppet says them
// before it skips the resource.
func (d *Resource) DependencyFailed(ctx context.Context) (evaluate bool, err error) {
	if d.owner != nil {
		return false, nil // a rider goes with its owner
	}
	out := d.runner.do(ctx, &request{res: d, apply: false})
	if out.err != nil || out.status == nil {
		return false, nil
	}
	if out.unsuitable {
		d.runner.pending.Lock()
		d.pending = &out
		d.runner.pending.Unlock()
		return true, nil
	}
	for _, l := range out.logs {
		if (l.Source == "Puppet" || l.Source == "") && logLevel(l.Level) >= engine.Warning {
			d.h.Printf(logLevel(l.Level), "%s", l.Message)
		}
	}
	if st := out.status; st.Failed && st.Skipped {
		return false, unevaluatedError(st)
	}
	return false, nil
}

// unevaluatedError is the failure of a resource Puppet skipped without evaluating
// it (its provider's prefetch failed): the failure event's message.
func unevaluatedError(st *status) error {
	for _, ev := range st.Events {
		if ev.Status == "failure" {
			return errors.New(ev.Message)
		}
	}
	return errors.New("failed in Puppet")
}

// takePending returns, once, the outcome a run left for this rider.
func (d *Resource) takePending() *outcome {
	d.runner.pending.Lock()
	defer d.runner.pending.Unlock()
	p := d.pending
	d.pending = nil
	return p
}

// matchEvent finds the unused event of property prop that a log line tells of.
func matchEvent(st *status, used []bool, prop, msg string) int {
	for i, ev := range st.Events {
		if !used[i] && ev.Property == prop && ev.Message == msg && (ev.Status == "success" || ev.Status == "noop") {
			return i
		}
	}
	return -1
}

// failedBeforeRefresh reports whether the resource failed on its own, not (only)
// in the refresh that Puppet calls after its evaluation, failed or not.
func failedBeforeRefresh(st *status) bool {
	for _, ev := range st.Events {
		if ev.Status == "failure" && !strings.HasPrefix(ev.Message, "Failed to call refresh: ") {
			return true
		}
	}
	return false
}

// failureError is the error of a failed resource: its failed property, else the
// last error Puppet logged about it.
func failureError(st *status, logged string) error {
	for _, ev := range st.Events {
		if ev.Status == "failure" && ev.Property != "" {
			msg := ev.Message
			if _, after, ok := strings.Cut(msg, " failed: "); ok {
				msg = after
			}
			return &engine.ChangeError{Property: ev.Property, From: compare.ShowValue(ev.Previous), To: compare.ShowValue(ev.Desired), Err: errors.New(msg)}
		}
	}
	if logged == "" {
		logged = "failed in Puppet"
	}
	return errors.New(strings.TrimPrefix(logged, "Could not evaluate: "))
}

func logLevel(s string) engine.Level {
	switch s {
	case "debug":
		return engine.Debug
	case "info":
		return engine.Info
	case "notice":
		return engine.Notice
	case "warning":
		return engine.Warning
	}
	return engine.Err
}
