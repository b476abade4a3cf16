package engine

import "time"

// EventKind says what an Event reports.
type EventKind int

// The kinds of events an Observer receives.
const (
	// EventChange: a property changed, or with Noop would have changed.
	EventChange EventKind = iota
	// EventLog: a free log line from the resource.
	EventLog
	// EventFailure: CheckApply or Refresh failed with Err.
	EventFailure
	// EventSkip: the vertex was not evaluated because vertices it depends on failed
	// (Failed, Roots).
	EventSkip
	// EventRefresh: Count refresh events reached a vertex that can refresh; with Noop
	// it was not refreshed.
	EventRefresh
	// EventEvaluated: the vertex was evaluated (Changed, Failed, Noop, Duration and
	// Corrective tell how); sent once per evaluation, after its other events.
	EventEvaluated
	// EventPassDone: the first pass over the graph is over; Duration is its length.
	EventPassDone
	// EventConverged: everything has been idle for the converged timeout.
	EventConverged
	// EventSwapDone: what a Swap brought in (new and changed vertices, and what
	// they notified) has been evaluated; Duration is the time since the swap.
	EventSwapDone
)

// Event is one thing that happened to a vertex (Vertex is nil for EventPassDone,
// EventConverged and EventSwapDone).
type Event struct {
	Kind    EventKind
	Vertex  *Vertex
	Time    time.Time
	Change  Change
	Level   Level
	Message string
	// Property names the property a log line is about; Bare lines name no source.
	Property string
	Bare     bool
	Err      error
	// Failed names the failed vertices a skipped vertex depends on directly, sorted;
	// Roots names the failed vertices behind the skip, however far.
	Failed, Roots []string
	// Count is the number of refresh events coalesced into one refresh.
	Count int
	// Noop is true when nothing was changed because of noop.
	Noop bool
	// Changed: the evaluation changed something (or would have, with Noop).
	Changed bool
	// Failure: the evaluation failed; Refresh: in the refresh, after CheckApply.
	Failure, Refresh bool
	// Corrective: the evaluation happened after the first pass, repairing drift
	// (set on an evaluation's EventChange, EventRefresh, EventFailure and
	// EventEvaluated); a vertex's first evaluation never is.
	Corrective bool
	Duration   time.Duration
}

// Observer receives the engine's events. Observe is called from many goroutines at
// once and must not block for long.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to the Observer interface.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }
