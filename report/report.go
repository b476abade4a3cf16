package report

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/puppetlog"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

// PuppetVersion is the version written as puppet_version: the Puppet whose reports
// these reproduce, and against which they are tested.
const PuppetVersion = "7.23.0"

// Run describes a run as a whole; it comes from the catalog.
type Run struct {
	Host                 string // the catalog's name (certname)
	ConfigurationVersion string
	CatalogUUID          string
	Environment          string
	Noop                 bool // the run's global --noop
	// ConfigRetrieval is the time spent reading and translating the catalog.
	ConfigRetrieval time.Duration

	// What an agent run adds (puppet apply leaves them empty):
	// RunMode is last_run_summary's run_mode: "agent", or "" for "user".
	RunMode string
	// TransactionUUID is the one the catalog was requested with; "" makes one.
	TransactionUUID string
	// InitialEnvironment is the environment the run began in, when the server
	// switched it ("" is Environment).
	InitialEnvironment string
	// CodeID and ServerUsed ("host:port") are the catalog's code_id and the server
	// it came from.
	CodeID, ServerUsed string
	// CachedCatalogStatus is not_used (""), explicitly_requested or on_failure.
	CachedCatalogStatus string
	// Phases are the agent's timed steps before the catalog's application
	// (fact_generation, plugin_sync...), reported among the time metrics.
	Phases []Phase
}

// Phase is a timed step of a run.
type Phase struct {
	Name     string // metric name: fact_generation
	Duration time.Duration
}

// Recorder is an engine.Observer that keeps what a report needs. Its methods may be
// called from many goroutines.
type Recorder struct {
	mu       sync.Mutex
	run      Run
	level    engine.Level
	uuid     string
	start    time.Time
	logs     []logEntry
	statuses map[*engine.Vertex]*status
	order    []*status
	applied  time.Duration // the first pass
	passDone bool
	// incomplete: no catalog was applied (Incomplete).
	incomplete bool
}

type logEntry struct {
	line puppetlog.Line
	time time.Time
}

type status struct {
	meta                             *translate.Meta
	provider                         any
	time                             time.Time
	evaluation                       time.Duration
	evaluated                        bool
	failed, failedToRestart, skipped bool
	changed, outOfSync, restarted    bool
	changeCount, outOfSyncCount      int
	corrective                       bool
	events                           []event
}

type event struct {
	property          string
	previous, desired any
	message, name     string
	status            string // success, failure, noop
	time              time.Time
	redacted          any // true, false or nil, as Puppet writes it
	corrective        bool
}

// providers is implemented by resources that name their provider (File: posix).
type providers interface{ ProviderName() string }

// NewRecorder returns a recorder for run that keeps log lines at level and above.
func NewRecorder(run Run, level engine.Level) *Recorder {
	uuid := run.TransactionUUID
	if uuid == "" {
		uuid = newUUID()
	}
	return &Recorder{run: run, level: level, uuid: uuid, start: time.Now(), statuses: map[*engine.Vertex]*status{}}
}

// Observe implements engine.Observer.
func (r *Recorder) Observe(e engine.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range puppetlog.Lines(e) {
		if l.Level >= r.level {
			r.logs = append(r.logs, logEntry{line: l, time: e.Time})
		}
	}
	if e.Kind == engine.EventPassDone || e.Kind == engine.EventSwapDone {
		r.applied, r.passDone = e.Duration, true
		return
	}
	if ce := (*engine.ChangeError)(nil); e.Kind == engine.EventFailure && errors.As(e.Err, &ce) && ce.Halted {
		// Cut short at runtimeout: Puppet's transaction never adds the status of
		// the resource it was evaluating; only its log line is in the report.
		r.drop(e.Vertex)
		return
	}
	st := r.status(e.Vertex, e.Time)
	if st == nil {
		return
	}
	switch e.Kind {
	case engine.EventChange:
		c := e.Change
		ev := event{property: c.Property, previous: value(c.Previous), desired: value(c.Desired),
			message: puppetlog.ChangeMessage(e), name: eventName(st.meta.Type, c.Property, c.Desired),
			status: "success", time: e.Time, corrective: e.Corrective}
		if c.Previous == "[redacted]" || c.Desired == "[redacted]" {
			ev.redacted = true
		}
		if e.Noop {
			ev.status = "noop"
		}
		st.add(ev)
	case engine.EventRefresh:
		if !e.Noop {
			st.restarted = true
			st.add(event{name: "refresh", status: "success", time: e.Time, redacted: false, corrective: e.Corrective,
				message: fmt.Sprintf("Triggered 'refresh' from %d %s", e.Count, plural(e.Count, "event"))})
		}
	case engine.EventFailure:
		if engine.IsUnevaluated(e.Err) {
			st.skipped = true // Puppet: skipped, and failed with an event
		}
		var ce *engine.ChangeError
		switch {
		case e.Refresh:
			// Puppet's event manager: failed_to_restart, and fail_with_event.
			st.failedToRestart = true
			st.add(event{name: "resource_error", status: "failure", message: "Failed to call refresh: " + e.Err.Error(), time: e.Time, corrective: e.Corrective})
		case errors.As(e.Err, &ce):
			msg := ce.Message(st.meta.File, st.meta.Line)
			if e.Corrective {
				msg += " (corrective)"
			}
			ev := event{property: ce.Property, previous: value(ce.From), desired: value(ce.To), message: msg,
				name: eventName(st.meta.Type, ce.Property, ce.To), status: "failure", time: e.Time, corrective: e.Corrective}
			if ce.From == "[redacted]" || ce.To == "[redacted]" {
				ev.redacted = true
			}
			st.add(ev)
		default:
			st.add(event{name: "resource_error", status: "failure", message: e.Err.Error(), time: e.Time, corrective: e.Corrective})
		}
	case engine.EventSkip:
		st.skipped = true
	case engine.EventEvaluated:
		st.evaluated = true
		st.evaluation += e.Duration
		if !r.passDone || st.time.IsZero() {
			st.time = e.Time.Add(-e.Duration)
		}
	}
}

// status is the entry of v, made on its first event; nil for vertices that are not
// resources in a report (containers).
func (r *Recorder) status(v *engine.Vertex, t time.Time) *status {
	if v == nil || v.Relay {
		return nil
	}
	if st, ok := r.statuses[v]; ok {
		return st
	}
	m, ok := v.Data.(*translate.Meta)
	if !ok || m.Whit {
		return nil
	}
	st := &status{meta: m, time: t}
	if p, ok := v.Resource.(providers); ok {
		st.provider = p.ProviderName()
	}
	r.statuses[v] = st
	r.order = append(r.order, st)
	return st
}

// drop forgets v's status, if it has one.
func (r *Recorder) drop(v *engine.Vertex) {
	st, ok := r.statuses[v]
	if !ok {
		return
	}
	delete(r.statuses, v)
	r.order = slices.DeleteFunc(r.order, func(o *status) bool { return o == st })
}

// SetRun replaces the description of the run: an agent's recorder takes what
// happens from its last report on (repairs between runs), and learns of the
// next run's catalog only when it comes.
func (r *Recorder) SetRun(run Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run = run
	if run.TransactionUUID != "" {
		r.uuid = run.TransactionUUID
	}
}

// AddPhase adds a timed step to the run's (one timed after the catalog's
// application: resubmit_facts).
func (r *Recorder) AddPhase(p Phase) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.Phases = append(r.run.Phases, p)
}

// InSync records vertices that no event told about as evaluated and in sync:
// an agent's run swaps a catalog in and re-evaluates only what changed, the rest
// being kept in sync by its watches, and Puppet's report lists every resource.
func (r *Recorder) InSync(vs []*engine.Vertex) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for _, v := range vs {
		if v.Skip {
			continue
		}
		if _, seen := r.statuses[v]; seen {
			continue
		}
		if st := r.status(v, now); st != nil {
			st.evaluated = true
		}
	}
}

// Skipped records vertices that are not evaluated at all (filtered out by tags):
// Puppet lists them as skipped.
func (r *Recorder) Skipped(vs []*engine.Vertex) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range vs {
		if st := r.status(v, time.Now()); st != nil {
			st.skipped = true
		}
	}
}

func (st *status) add(ev event) {
	st.events = append(st.events, ev)
	switch ev.status {
	case "failure":
		st.failed = true
	case "success":
		st.changeCount++
		st.changed = true
	}
	st.outOfSyncCount++
	st.outOfSync = true
	if ev.corrective {
		st.corrective = true
	}
}

// eventName is Puppet's name for a change of property to desired: File's ensure
// values have their own, Exec's returns is executed_command, any other property
// is <property>_changed.
func eventName(typ, property, desired string) string {
	switch {
	case property == "ensure" && typ == "File":
		switch desired {
		case "absent":
			return "file_removed"
		case "directory":
			return "directory_created"
		case "link":
			return "link_created"
		}
		return "file_created"
	case property == "ensure":
		switch desired {
		case "absent":
			return strings.ToLower(typ) + "_removed"
		case "present":
			return strings.ToLower(typ) + "_created"
		}
		return strings.ToLower(typ) + "_changed"
	case property == "returns" && typ == "Exec":
		return "executed_command"
	}
	return property + "_changed"
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Log records a line of the run that is no resource's (an agent's "Could not
// retrieve catalog ..."), as Puppet's report keeps every line the run logged.
func (r *Recorder) Log(level engine.Level, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if level >= r.level {
		r.logs = append(r.logs, logEntry{line: puppetlog.Line{Level: level, Message: message}, time: time.Now()})
	}
}

// Incomplete marks the run as one that applied no catalog (none came, or it
// could not be used): Puppet reports it failed, its transaction not completed.
func (r *Recorder) Incomplete() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.incomplete = true
}

// Begin marks the start of the run, the report's time: an agent's recorder is
// made when the last report went, and its next run begins later.
func (r *Recorder) Begin() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start = time.Now()
}
