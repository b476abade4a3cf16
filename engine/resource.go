package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Resource is the contract every native resource fulfils. The engine never calls two
// methods of one resource at the same time, except Watch's pokes, which may come from
// any goroutine.
type Resource interface {
	// Validate checks the parameters without touching the system.
	Validate() error
	// Init hands the resource its handle, before anything else is called.
	Init(h Handle) error
	// Watch starts watching the real state and returns once the watch is set up; from
	// then until Close (or ctx's end) the resource calls Handle.Poke whenever its state
	// may have changed. A resource that needs a goroutine starts its own: the engine
	// does not keep one per resource, so that 100,000 resources stay cheap.
	Watch(ctx context.Context) error
	// CheckApply reads the real state and, when apply is true, repairs it. It returns
	// ok=true when the state was already as desired. Each property it changes (or, with
	// apply false, would change) is told through Handle.Change.
	CheckApply(ctx context.Context, apply bool) (ok bool, err error)
	// Close stops the watch and frees what the resource holds.
	Close() error
}

// Refresher is a resource that reacts to refresh events (an Exec re-runs, a Service
// restarts). Refresh is called at most once per evaluation however many events arrived,
// after CheckApply. With apply false it must change nothing.
type Refresher interface {
	Refresh(ctx context.Context, apply bool) error
}

// RefreshInvalidator is a Refresher whose last CheckApply may void the refresh
// events waiting for it (a service it just started): then it is not refreshed and
// nothing is said of those events, as Puppet's invalidate_refreshes does.
type RefreshInvalidator interface {
	RefreshInvalidated() bool
}

// RefreshPreparer is a Refresher that must know before CheckApply whether a refresh
// will follow, because one step does both (a resource handed to another program).
// PrepareRefresh is called before every CheckApply: due says refresh events wait,
// noop that they only may say what they would have done. Such a resource is a
// RefreshInvalidator too, to say when it does not refresh at all.
type RefreshPreparer interface {
	PrepareRefresh(due, noop bool)
}

// SelfRefresher is a Refresher whose own changes refresh it too, each an event for
// itself (Puppet's self_refresh: a Mount that changed is remounted). SelfRefresh
// says whether the last CheckApply's changes count so (not when it removed
// itself).
type SelfRefresher interface {
	SelfRefresh() bool
}

// Unwatched is a resource whose Watch cannot see its state change: an Exec's
// checks, a type Puppet runs (looked at only at an interval). After the first
// pass, when something it depends on, directly or through other resources, is
// repaired, it is looked at again, after that repair and in graph order, as the
// next Puppet run would: its checks may rest on what was repaired.
type Unwatched interface {
	Unwatched()
}

// Yielder is implemented by the Handle the engine gives a resource: Yield runs
// wait, a wait that needs no CPU and that other evaluations can share (the group
// flush of new files), and lends the evaluation's Parallelism slot to another
// resource meanwhile, so that more writers join one flush.
type Yielder interface {
	Yield(wait func())
}

// Offloaded is a resource whose CheckApply mostly waits for work done elsewhere, by a
// process that serves many such resources at once. It does not take one of the
// Parallelism slots, so that all of them that are ready can join one batch.
type Offloaded interface {
	Offloaded()
}

// Unskippable is a resource that Puppet may treat otherwise than skipping it when
// one of its dependencies failed: a type Puppet runs whose providers are all
// unsuitable here (Puppet never evaluates it: it fails it at the end of its run,
// never skipping it), or whose provider's prefetch failed (Puppet skips it, and
// reports it failed too). When a dependency of an Unskippable failed, the engine
// asks it, in a worker: evaluate true evaluates it (to fail as Puppet fails it);
// else it is skipped, and with err also failed (its dependents then name it among
// the failures).
type Unskippable interface {
	DependencyFailed(ctx context.Context) (evaluate bool, err error)
}

// Queued is an Offloaded resource whose work goes to a queue that does it in the
// order it was handed over. An order edge between two resources of one queue is
// kept by the queue itself: the later one is started as soon as the earlier one is,
// so that both can join one batch.
type Queued interface {
	Offloaded
	// Queue identifies the queue; resources with equal non-nil values share it.
	Queue() any
	// Dispatched tells the resource, before its CheckApply starts, its place in
	// the order in which the engine starts queued resources.
	Dispatched(seq uint64)
}

// Locker is a resource that must not run at the same time as others holding one of the
// same named locks (a package manager, say).
type Locker interface {
	Locks() []string
}

// Handle is what a resource may ask of the engine.
type Handle interface {
	// Poke says the real state may have changed; the engine will call CheckApply soon.
	// Pokes are cheap, deduplicated and rate limited.
	Poke()
	// Change records one property change made (or, when not applying, one that would
	// be made).
	Change(c Change)
	// Logf records a free log line about the resource.
	Logf(level Level, format string, args ...any)
	// PropertyLogf records a line about one property of the resource (an Exec's
	// output is logged against "returns").
	PropertyLogf(level Level, property, format string, args ...any)
	// Printf records a line that names no resource (a Notify's message).
	Printf(level Level, format string, args ...any)
}

// Change is one property of a resource going from one value to another.
type Change struct {
	Property string // "ensure", "content", "mode", "returns"
	Previous string // the value found, as the log prints it ("absent", "0644")
	Desired  string // the value wanted
	// Message is what the log says when the change is made: "created",
	// "mode changed '0644' to '0600'", "executed successfully".
	Message string
}

// Level is the severity of a log line.
type Level int

// Levels, in Puppet's names.
const (
	Debug Level = iota
	Info
	Notice
	Warning
	Err
)

func (l Level) String() string {
	switch l {
	case Debug:
		return "Debug"
	case Info:
		return "Info"
	case Notice:
		return "Notice"
	case Warning:
		return "Warning"
	default:
		return "Error"
	}
}

// ChangeError is a failure to bring one property to its desired value; loggers print it
// against the property ("change from 'notrun' to ['0'] failed: ..."). From and To are
// quoted as Puppet does, unless they are lists ("['0']"), which are printed as they are.
type ChangeError struct {
	Property string
	From, To string
	Err      error
	// Set, when not empty, says that Err is a system error that Puppet's property
	// set method met setting the value Set: Puppet wraps it as "Could not set
	// 'Set' on PROPERTY: Err (file: F, line: L)" with the resource's manifest
	// position, and logs that twice, the second time with the system error after
	// "Wrapped exception:".
	Set string
	// Said, when set, is how the message prints From and To: as a type's own
	// is_to_s and should_to_s print them (bare, or redacted), not quoted.
	Said *[2]string
	// Halted says the change was cut short by the end of the run (Config.Abort):
	// Puppet's harness records such a change, an Exception rather than a
	// StandardError, without logging the exception before it.
	Halted bool
}

func (e *ChangeError) Error() string { return e.Message("", 0) }

// Message is the change failure as Puppet words it, for a resource declared at
// file and line (when known).
func (e *ChangeError) Message(file string, line int) string {
	from, to := QuoteValue(e.From), QuoteValue(e.To)
	if e.Said != nil {
		from, to = e.Said[0], e.Said[1]
	}
	return fmt.Sprintf("change from %s to %s failed: %s", from, to, e.Cause(file, line))
}

// Cause is the failure without the change: Err, or with Set Puppet's wrapping of it.
func (e *ChangeError) Cause(file string, line int) string {
	if e.Set == "" {
		return e.Err.Error()
	}
	s := fmt.Sprintf("Could not set '%s' on %s: %v", e.Set, e.Property, e.Err)
	switch {
	case file != "" && line > 0:
		s += fmt.Sprintf(" (file: %s, line: %d)", file, line)
	case file != "":
		s += fmt.Sprintf(" (file: %s)", file)
	case line > 0:
		s += fmt.Sprintf(" (line: %d)", line)
	}
	return s
}

// QuoteValue prints a value as Puppet's logs do: quoted, except lists ("['0']").
func QuoteValue(s string) string {
	if strings.HasPrefix(s, "[") {
		return s
	}
	return PuppetString(s)
}

// PuppetString prints a string as Puppet's logs print a value (its StringConverter's
// %p): single-quoted with ' escaped, or double-quoted with escapes when it holds
// control characters (a message of several lines).
func PuppetString(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return strconv.Quote(s)
		}
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

func (e *ChangeError) Unwrap() error { return e.Err }

// reportedError marks an error whose lines the resource has logged itself (another
// program's output, passed on): loggers print nothing more for it.
type reportedError struct{ err error }

func (e reportedError) Error() string { return e.err.Error() }
func (e reportedError) Unwrap() error { return e.err }

// Reported marks err as already logged by the resource.
func Reported(err error) error {
	if err == nil {
		return nil
	}
	return reportedError{err}
}

// IsReported reports whether err, or an error it wraps, was marked Reported.
func IsReported(err error) bool {
	var r reportedError
	return errors.As(err, &r)
}

// unevaluatedError marks the failure of a resource that was not evaluated at all
// (Puppet's "Skipping because provider prefetch failed"): reports say it was skipped
// as well as failed.
type unevaluatedError struct{ err error }

func (e unevaluatedError) Error() string { return e.err.Error() }
func (e unevaluatedError) Unwrap() error { return e.err }

// Unevaluated marks err as the failure of a resource that was not evaluated.
func Unevaluated(err error) error {
	if err == nil {
		return nil
	}
	return unevaluatedError{err}
}

// IsUnevaluated reports whether err, or an error it wraps, was marked Unevaluated.
func IsUnevaluated(err error) bool {
	var u unevaluatedError
	return errors.As(err, &u)
}

// permanentError marks an error that retrying cannot help (a bad parameter).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// retryAfterError asks that a failed resource be tried again no sooner than after
// (systemd refuses to start a unit again within its start limit's interval).
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as one that retrying cannot fix before d has passed: the
// engine's next try waits at least that long, whatever its backoff says.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return retryAfterError{err, d}
}

// retryAfter is the least wait before retrying that err, or an error it wraps,
// asks for.
func retryAfter(err error) time.Duration {
	var r retryAfterError
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}
