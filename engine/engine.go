package engine

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the engine's configuration. The zero value is usable: New fills defaults.
type Config struct {
	// Parallelism bounds how many resources are evaluated at once. Zero means
	// DefaultParallelism().
	Parallelism int
	// Noop: check every resource, change nothing.
	Noop bool
	// ConvergedTimeout: after the first pass, Run returns once everything has been idle
	// this long. Zero returns right after the first pass (no watching); a negative value
	// runs until the context ends.
	ConvergedTimeout time.Duration
	// Observer receives every event; nil discards them.
	Observer Observer
	// RetryMin and RetryMax bound the backoff between retries of a failed resource
	// after the first pass. Errors marked Permanent are not retried.
	RetryMin, RetryMax time.Duration
	// RateBurst and RateInterval limit how often pokes may re-run one resource: a burst
	// of RateBurst runs, then one per RateInterval.
	RateBurst    int
	RateInterval time.Duration
	// FightRepairs repairs of one resource within FightWindow make a fight
	// (fight.go): further repairs of it wait FightMin, doubling up to FightMax, until
	// a FightWindow passes without one; -1 never damps. FightInvestigate bounds how
	// long an Investigator looks for the other party.
	FightRepairs                    int
	FightWindow, FightMin, FightMax time.Duration
	FightInvestigate                time.Duration
	// Gate, when set, is passed before evaluations start (gate.go); GateRetry is
	// how long they wait before it is asked again after it said no.
	Gate      Gate
	GateRetry time.Duration
	// Abort, when set, ends the run harder than Run's context does: once it is
	// done no evaluation starts and those in flight are cancelled (their commands
	// killed; their contexts' cause is Abort's), as Puppet's runtimeout terminates
	// a run. A resource cut short while changing a property (a *ChangeError) fails
	// with it, as Puppet's harness records the interrupted change; one cut short
	// otherwise gets no event: it was not evaluated. Either way it is not counted in
	// Result, and nothing is skipped or refreshed after it.
	Abort context.Context
}

// DefaultParallelism is the default bound on concurrent evaluations: resources mostly
// wait on the system (processes, disk syncs), so several per CPU, and at least 16,
// which lets a file system's journal commit many files' syncs at once.
func DefaultParallelism() int {
	return max(16, 4*runtime.NumCPU())
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Parallelism < 0:
		return fmt.Errorf("parallelism %d: must be at least 1", c.Parallelism)
	case c.RetryMin < 0 || c.RetryMax < 0 || c.RetryMax > 0 && c.RetryMax < c.RetryMin:
		return fmt.Errorf("retry backoff %v..%v: invalid", c.RetryMin, c.RetryMax)
	case c.RateBurst < 0 || c.RateInterval < 0:
		return errors.New("rate limit: negative values")
	case c.FightRepairs < -1 || c.FightWindow < 0 || c.FightMin < 0 || c.FightMax < 0 || c.FightInvestigate < 0:
		return errors.New("fight damping: negative values")
	case c.FightMax > 0 && c.FightMax < c.FightMin:
		return fmt.Errorf("fight damping %v..%v: invalid", c.FightMin, c.FightMax)
	case c.GateRetry < 0:
		return errors.New("gate retry: negative")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Parallelism == 0 {
		c.Parallelism = DefaultParallelism()
	}
	if c.Observer == nil {
		c.Observer = ObserverFunc(func(Event) {})
	}
	if c.RetryMin == 0 {
		c.RetryMin = 500 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Minute
		if c.RetryMax < c.RetryMin {
			c.RetryMax = c.RetryMin
		}
	}
	if c.RateBurst == 0 {
		c.RateBurst = 20
	}
	if c.RateInterval == 0 {
		c.RateInterval = 20 * time.Millisecond
	}
	if c.FightRepairs == 0 {
		c.FightRepairs = 5
	}
	if c.FightWindow == 0 {
		c.FightWindow = 10 * time.Second
	}
	if c.FightMin == 0 {
		c.FightMin = time.Second
	}
	if c.FightMax == 0 {
		c.FightMax = max(30*time.Minute, c.FightMin) // Puppet's runinterval
	}
	if c.FightInvestigate == 0 {
		c.FightInvestigate = 5 * time.Second
	}
	if c.GateRetry == 0 {
		c.GateRetry = time.Second
	}
}

// Result sums up a run.
type Result struct {
	Total     int // vertices evaluated (not Skip)
	Changed   int // vertices that changed something at least once
	OutOfSync int // vertices found out of sync at least once (noop included)
	Restarted int // vertices refreshed at least once
	Failed    int // vertices failed at the end of the run (or of the first pass)
	Skipped   int // vertices skipped for failed dependencies at the end
	// FailedToRestart counts vertices whose refresh failed at least once.
	FailedToRestart int
	// Corrective counts evaluations after the first pass that changed something.
	Corrective int
	// FirstPass is how long the first pass over the graph took.
	FirstPass time.Duration
}

// Engine runs graphs. One Engine runs one graph at a time; Swap replaces it while Run
// goes on.
type Engine struct {
	cfg  Config
	swap chan swapReq

	// Pokes from any goroutine land here; the run loop drains them.
	pokeMu   sync.Mutex
	pokeList []*node
	wake     chan struct{}

	// Slots lent by evaluations that wait (Yielder): lent counts them, and each
	// lend and return goes through yields to the run loop, which owns the count
	// of slots in use.
	lent   atomic.Int32
	yields chan bool // true: a slot lent; false: returned
}

type swapReq struct {
	g    *Graph
	done chan error
}

// New returns an engine with cfg, defaults filled in.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Engine{cfg: cfg, swap: make(chan swapReq), wake: make(chan struct{}, 1), yields: make(chan bool)}, nil
}

// Swap replaces the running graph by g. Vertices of g with the name and fingerprint
// of a running vertex keep that vertex's resource, state and watch; new or changed
// vertices are initialised and evaluated; vertices no longer present are closed. It
// returns once the swap is done (after in-flight evaluations finished).
func (e *Engine) Swap(ctx context.Context, g *Graph) error {
	req := swapReq{g: g, done: make(chan error, 1)}
	select {
	case e.swap <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

type state uint8

const (
	idle    state = iota
	waiting       // wants to run; some dependency is not done yet
	queued        // ready, waiting for a worker (or a lock)
	running
)

type outcome uint8

const (
	none    outcome = iota
	success         // in sync, or brought in sync
	failure
	skipped // a dependency failed
)

// node is the engine's state of one vertex. Only the run loop touches it, except for
// the fields the running worker owns while state is running (noted).
type node struct {
	e       *Engine
	v       *Vertex
	in, out []nedge
	index   int // catalog order

	st     state
	busy   int // dependencies that are not idle
	result outcome
	roots  []string // failed vertices behind a failure or skip
	// refreshes counts the events waiting for the next evaluation; real counts those
	// that are not noop events. With only noop events a refresh is only reported.
	refreshes, real int
	again           bool // poked while running
	// recheck: wanted by recheckUnwatched, not by drift of its own; what it
	// changes then is not a repair that fight damping counts. againRecheck: only
	// rechecks poked it while it ran (again).
	recheck, againRecheck bool
	removed               bool
	// released: this evaluation's start released the order edges to resources of
	// its queue (Queued); finishNode does not release them again.
	released  bool
	permanent bool // the last failure cannot be fixed by retrying
	// unevaluated: the last failure was of a resource not evaluated at all, which
	// Puppet counts as skipped too (Unevaluated).
	unevaluated bool

	// drift holds what repairs and retries need, made on first use: most
	// resources never drift nor fail (it saves a third of a node's size).
	drift *drift

	everChanged, everOutOfSync, everRestarted, everFailedRestart bool

	pokeQueued atomic.Bool // the dedupe flag for Poke: set by Poke, cleared by drainPokes

	// Owned by the worker while running.
	evaluating bool // in evaluate: Yield may lend the slot
	noop       bool
	corrective bool // this evaluation repairs drift (Event.Corrective)
	changes    int
	watching   bool
	// pending holds the changes told during CheckApply, reported once it returns:
	// a change whose property then failed is reported as the failure only.
	pending    []Change
	collecting bool
}

type nedge struct {
	n       *node
	refresh bool
	order   bool // only orders: no failure passes
}

type completion struct {
	n          *node
	changed    bool // changed something, or would have with noop
	restarted  bool
	err        error
	refreshErr bool
	// events is the number of events for dependents along refresh edges; real
	// counts those that are not noop events.
	events, real int
	// skip: the resource was asked whether it is unsuitable (Unskippable), said
	// no, and is skipped for the failures of roots (set by complete, from
	// run.asking).
	skip  bool
	roots []string
	// aborted: Config.Abort cut the evaluation short; it counts as not made.
	aborted bool
}

// nodeHeap orders queued nodes by catalog order. Each entry holds its node's
// index, which does not change while it is queued (a swap empties the heaps):
// comparing reads the heap's own memory, not 100,000 nodes scattered in the heap.
type nodeHeap []heapEntry

type heapEntry struct {
	index int
	n     *node
}

func (h nodeHeap) Len() int           { return len(h) }
func (h nodeHeap) Less(i, j int) bool { return h[i].index < h[j].index }
func (h nodeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nodeHeap) Push(x any) {
	n := x.(*node)
	*h = append(*h, heapEntry{n.index, n})
}
func (h *nodeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = heapEntry{}
	*h = old[:len(old)-1]
	return e.n
}

// run is the state of one Run call, owned by the loop goroutine.
type run struct {
	e     *Engine
	ctx   context.Context // for Watch: ends with the run
	work  context.Context // for evaluations: not cancelled by a shutdown, so in-flight work finishes
	nodes []*node
	ready nodeHeap
	// offReady holds the queued nodes whose resources are Offloaded: they start
	// whatever the Parallelism bound.
	offReady nodeHeap
	blocked  []*node // queued but a lock is held
	locks    map[string]bool
	active   int // nodes waiting, queued or running
	running  int // nodes running
	slots    int // nodes running that count against Parallelism
	done     chan completion
	jobs     chan job     // to idle workers
	idle     atomic.Int32 // workers waiting on jobs
	passDone bool
	start    time.Time
	result   Result
	seq      uint64 // Queued resources started
	// announced are the failures already named to a skipped resource.
	announced map[string]bool
	// asking are the Unskippable resources being asked, with the failures behind
	// them; held are the resources to skip that wait for their answers.
	asking    map[*node][]string
	held      []*node
	heldSkips []completion // Unskippable resources to skip, held as held are
	check     nodeHeap     // waiting nodes whose dependencies may be done now
	// afterPass holds vertices poked during the first pass after their evaluation.
	afterPass []*node
	// rechecked are the nodes recheckUnwatched went through since an Unwatched
	// resource last started, and whether an Unwatched is behind each: those
	// all wait to be looked at, so a later repair need not go through them again.
	rechecked map[*node]bool
	bg        sync.WaitGroup // Investigators at work
	// swapping: a swap's new vertices are being evaluated since swapStart.
	swapping  bool
	swapStart time.Time
	// gateHeld: Config.Gate let evaluations start and has not been left yet;
	// gateTimer asks it again after a no.
	gateHeld  bool
	gateTimer *time.Timer
}

// Run evaluates g: a first pass in dependency order, then, unless ConvergedTimeout is
// zero, it keeps every resource watched and repairs drift until it has converged for
// ConvergedTimeout or ctx ends. When ctx ends, in-flight evaluations finish first.
func (e *Engine) Run(ctx context.Context, g *Graph) (Result, error) {
	work := context.WithoutCancel(ctx)
	if e.cfg.Abort != nil {
		var stop context.CancelFunc
		var cancelWork context.CancelCauseFunc
		ctx, stop = context.WithCancel(ctx)
		work, cancelWork = context.WithCancelCause(work)
		defer context.AfterFunc(e.cfg.Abort, func() { stop(); cancelWork(context.Cause(e.cfg.Abort)) })()
		defer stop()
		defer cancelWork(nil)
	}
	watchCtx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	r := &run{
		e:      e,
		ctx:    watchCtx,
		work:   work,
		locks:  map[string]bool{},
		asking: map[*node][]string{},
		done:   make(chan completion, e.cfg.Parallelism),
		jobs:   make(chan job),
		start:  time.Now(),
	}
	if err := r.load(g, nil); err != nil {
		return Result{}, err
	}
	for _, n := range r.nodes {
		r.want(n)
	}
	r.settle()
	err := r.loop(ctx)
	close(r.jobs) // idle workers end; none is at work once the loop has returned
	r.stopGate()
	cancelWatch()
	r.bg.Wait()
	r.closeAll()
	return r.finish(), err
}

// load builds the node table for g, reusing the nodes of old whose vertex is unchanged.
// It returns the nodes that are new.
func (r *run) load(g *Graph, old map[string]*node) error {
	nodes := make([]*node, len(g.vertices))
	var errs []error
	for i, v := range g.vertices {
		if o, ok := old[v.Name]; ok && v.Fingerprint != "" && o.v.Fingerprint == v.Fingerprint && o.v.Skip == v.Skip && o.v.Relay == v.Relay {
			v.Resource = o.v.Resource
			o.v = v
			o.index = i
			delete(old, v.Name)
			nodes[i] = o
			continue
		}
		n := &node{e: r.e, v: v, index: i}
		if !v.inert() {
			if v.Resource == nil {
				errs = append(errs, fmt.Errorf("%s: no resource", v.Name))
				continue
			}
			if err := v.Resource.Init(n); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", v.Name, err))
			}
		}
		nodes[i] = n
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for i, n := range nodes {
		n.in, n.out = slices.Grow(n.in[:0], len(g.in[i])), slices.Grow(n.out[:0], len(g.out[i]))
		for _, ed := range g.in[i] {
			n.in = append(n.in, nedge{n: nodes[ed.to], refresh: ed.refresh, order: ed.order})
		}
		for _, ed := range g.out[i] {
			n.out = append(n.out, nedge{n: nodes[ed.to], refresh: ed.refresh, order: ed.order})
		}
	}
	r.nodes = nodes
	return nil
}

// Poke implements Handle.
func (n *node) Poke() {
	if !n.pokeQueued.CompareAndSwap(false, true) {
		return // already queued
	}
	e := n.e
	e.pokeMu.Lock()
	e.pokeList = append(e.pokeList, n)
	e.pokeMu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// lendFactor bounds the slots lent at once by evaluations waiting in Yield: that
// many times Parallelism.
const lendFactor = 16

// Yield implements Yielder: the evaluation's slot goes to another resource while
// wait runs, and comes back (even above the bound, briefly) when it returns. At
// most lendFactor × Parallelism slots are lent at once; past that, for resources
// that take no slot, and outside CheckApply and Refresh, wait just runs. It must
// be called from the goroutine of CheckApply or Refresh.
func (n *node) Yield(wait func()) {
	e := n.e
	if !n.evaluating || isOffloaded(n.v.Resource) {
		wait() // no slot to lend: not in an evaluation, or none taken
		return
	}
	if int(e.lent.Add(1)) > lendFactor*e.cfg.Parallelism {
		e.lent.Add(-1)
		wait()
		return
	}
	e.yields <- true
	defer func() {
		e.yields <- false // received by the loop before this evaluation can complete
		e.lent.Add(-1)
	}()
	wait()
}

// Change implements Handle.
func (n *node) Change(c Change) {
	n.changes++
	if n.collecting {
		n.pending = append(n.pending, c)
		return
	}
	n.e.cfg.Observer.Observe(Event{Kind: EventChange, Vertex: n.v, Time: time.Now(), Change: c, Noop: n.noop, Corrective: n.corrective})
}

// flushChanges reports the changes collected during CheckApply, except the one for
// the property that failed with err.
func (n *node) flushChanges(err error) {
	n.collecting = false
	var ce *ChangeError
	failed := ""
	if errors.As(err, &ce) {
		failed = ce.Property
	}
	for _, c := range n.pending {
		if c.Property == failed {
			n.changes--
			continue
		}
		n.e.cfg.Observer.Observe(Event{Kind: EventChange, Vertex: n.v, Time: time.Now(), Change: c, Noop: n.noop, Corrective: n.corrective})
	}
	n.pending = n.pending[:0]
}

// Logf implements Handle.
func (n *node) Logf(level Level, format string, args ...any) {
	n.log(level, "", false, format, args)
}

// PropertyLogf implements Handle.
func (n *node) PropertyLogf(level Level, property, format string, args ...any) {
	n.log(level, property, false, format, args)
}

// Printf implements Handle.
func (n *node) Printf(level Level, format string, args ...any) {
	n.log(level, "", true, format, args)
}

func (n *node) log(level Level, property string, bare bool, format string, args []any) {
	n.e.cfg.Observer.Observe(Event{Kind: EventLog, Vertex: n.v, Time: time.Now(), Level: level,
		Message: fmt.Sprintf(format, args...), Property: property, Bare: bare})
}

// want marks n as wanting an evaluation.
func (r *run) want(n *node) {
	if n.removed || n.v.Skip && r.passDone {
		return
	}
	switch n.st {
	case running:
		n.again, n.againRecheck = true, false
		return
	case waiting, queued:
		return
	}
	if r.passDone {
		now := time.Now()
		dr := n.repairs()
		if n.result == failure && !n.permanent {
			// Failing resources keep their backoff even when poked: a failed
			// start makes systemd signal the unit's change, and trying again at
			// each signal would exhaust its start limit in a second.
			if d := dr.retryAt.Sub(now); d > 0 {
				r.schedule(n, d)
				return
			}
		}
		if d := dr.fight.wait(now); d > 0 {
			r.schedule(n, d)
			return
		}
		if !n.takeToken(r.e.cfg) {
			r.schedule(n, n.tokenWait(r.e.cfg))
			return
		}
	}
	r.activate(n)
}

// activate takes an idle n to waiting; its dependents count it as busy until
// finishNode.
func (r *run) activate(n *node) {
	n.st = waiting
	r.active++
	for _, d := range n.out {
		d.n.busy++
	}
	if n.busy == 0 {
		heap.Push(&r.check, n)
	}
}

// drift is a node's state for repairs and retries. The run loop owns it.
type drift struct {
	retries  int
	retryAt  time.Time     // a failed node is not tried again before this, poked or not
	minRetry time.Duration // the last failure's own least wait (RetryAfter)
	fight    fight
	timer    *time.Timer // a retry or a rate-limited poke is scheduled
	tokens   float64
	tokensAt time.Time
}

// repairs returns n's drift state, made on first use with a full bucket of
// tokens.
func (n *node) repairs() *drift {
	if n.drift == nil {
		n.drift = &drift{tokens: float64(n.e.cfg.RateBurst)}
	}
	return n.drift
}

// stopTimer cancels a scheduled poke.
func (n *node) stopTimer() {
	if n.drift != nil && n.drift.timer != nil {
		n.drift.timer.Stop()
		n.drift.timer = nil
	}
}

func (n *node) takeToken(c Config) bool {
	d := n.repairs()
	now := time.Now()
	d.tokens += float64(now.Sub(d.tokensAt)) / float64(c.RateInterval)
	if max := float64(c.RateBurst); d.tokens > max {
		d.tokens = max
	}
	d.tokensAt = now
	if d.tokens >= 1 {
		d.tokens--
		return true
	}
	return false
}

func (n *node) tokenWait(c Config) time.Duration {
	return time.Duration((1 - n.repairs().tokens) * float64(c.RateInterval))
}

// schedule pokes n again after d, unless something is scheduled already.
func (r *run) schedule(n *node, d time.Duration) {
	dr := n.repairs()
	if dr.timer != nil {
		return
	}
	dr.timer = time.AfterFunc(d, func() { n.Poke() })
}

// settle moves waiting nodes whose dependencies are done to the ready queue (or skips
// them), then starts what the concurrency bound and the locks allow.
func (r *run) settle() {
	if r.aborted() {
		return // nothing starts, and nothing is skipped, once Abort has ended the run
	}
	for {
		r.settleChecks()
		r.dispatch()
		if len(r.check) == 0 { // starting a Queued resource may release others
			return
		}
	}
}

// settleChecks moves the waiting nodes of r.check whose dependencies are done to a
// ready queue, or skips them.
func (r *run) settleChecks() {
	for len(r.check) > 0 {
		// In catalog order, as Puppet's traversal meets them: of several skipped
		// because of one failure, the first names it.
		n := heap.Pop(&r.check).(*node)
		if n.st != waiting || n.busy > 0 {
			continue
		}
		var roots []string
		for _, d := range n.in {
			if d.order {
				continue
			}
			if d.n.result == failure || d.n.result == skipped {
				roots = append(roots, d.n.roots...)
			}
		}
		if n.v.Skip {
			r.finishNode(n, success, nil)
			continue
		}
		if n.v.Relay {
			r.relay(n, roots)
			continue
		}
		if len(roots) > 0 {
			roots = uniqSorted(roots)
			if _, ok := n.v.Resource.(Unskippable); ok {
				r.asking[n] = roots
				n.st = queued
				r.enqueue(n)
				continue
			}
			if r.askedBefore(n, roots) {
				// A resource before it in the catalog, skipped because of the same
				// failure, may name it: wait for its answer.
				r.held = append(r.held, n)
				continue
			}
			n.refreshes, n.real = 0, 0
			r.e.cfg.Observer.Observe(Event{Kind: EventSkip, Vertex: n.v, Time: time.Now(), Failed: r.announce(roots), Roots: roots})
			r.finishNode(n, skipped, roots)
			continue
		}
		n.st = queued
		r.enqueue(n)
	}
}

// announce returns the failures of roots not yet announced in this run, and marks
// them announced: Puppet says "Dependency X has failures" once per failed
// resource, for the first resource skipped because of it.
func (r *run) announce(roots []string) []string {
	var out []string
	for _, f := range roots {
		if !r.announced[f] {
			if r.announced == nil {
				r.announced = map[string]bool{}
			}
			r.announced[f] = true
			out = append(out, f)
		}
	}
	return out
}

// askedBefore reports whether a resource before n in catalog order, one of roots'
// failures behind it too, is being asked whether it is skipped (Unskippable): of
// the resources skipped because of a failure, the first in catalog order names it.
func (r *run) askedBefore(n *node, roots []string) bool {
	for p, pr := range r.asking {
		if p.index >= n.index {
			continue
		}
		for _, f := range roots {
			if !r.announced[f] && slices.Contains(pr, f) {
				return true
			}
		}
	}
	return false
}

// answered takes n's question back (asking), and lets the resources held for it
// be looked at again.
func (r *run) answered(n *node) {
	delete(r.asking, n)
	for _, h := range r.held {
		heap.Push(&r.check, h)
	}
	r.held = r.held[:0]
	skips := r.heldSkips
	r.heldSkips = nil
	sort.Slice(skips, func(i, j int) bool { return skips[i].n.index < skips[j].n.index })
	for _, c := range skips {
		r.skipAsked(c)
	}
}

// skipAsked skips an Unskippable resource that answered so (and, with c.err, fails
// it too), once no resource before it in the catalog is still asked about one of
// its failures: the first skipped names them.
func (r *run) skipAsked(c completion) {
	n := c.n
	if r.askedBefore(n, c.roots) {
		r.heldSkips = append(r.heldSkips, c)
		return
	}
	n.refreshes, n.real = 0, 0
	r.e.cfg.Observer.Observe(Event{Kind: EventSkip, Vertex: n.v, Time: time.Now(), Failed: r.announce(c.roots), Roots: c.roots})
	if c.err != nil {
		// Skipped, and failed too: its dependents name it with the failures
		// behind it, as Puppet's propagate_failure does.
		n.unevaluated = true
		r.e.cfg.Observer.Observe(Event{Kind: EventFailure, Vertex: n.v, Time: time.Now(), Err: Reported(Unevaluated(c.err))})
		r.finishNode(n, failure, uniqSorted(append(append([]string{}, c.roots...), n.v.Name)))
	} else {
		r.finishNode(n, skipped, c.roots)
	}
}

// relay passes a container boundary: failures and refresh events go through it.
func (r *run) relay(n *node, roots []string) {
	count, real := n.refreshes, n.real
	n.refreshes, n.real = 0, 0
	if len(roots) > 0 {
		r.finishNode(n, skipped, uniqSorted(roots))
		return
	}
	// Like Puppet's whits, a relay turns however many events it got into one; when
	// all were noop events, it says what it would have triggered.
	if count > 0 {
		if real == 0 {
			r.e.cfg.Observer.Observe(Event{Kind: EventRefresh, Vertex: n.v, Time: time.Now(), Count: count, Noop: true})
		}
		r.send(n, 1, min(real, 1))
	}
	r.finishNode(n, success, nil)
}

// send passes events, real of them not noop events, along n's refresh edges.
func (r *run) send(n *node, events, real int) {
	for _, d := range n.out {
		if d.refresh {
			d.n.refreshes += events
			d.n.real += real
			r.want(d.n)
		}
	}
}

// sameQueue reports whether a and b are Queued resources of one queue.
func sameQueue(a, b *node) bool {
	qa, ok := a.v.Resource.(Queued)
	if !ok {
		return false
	}
	qb, ok := b.v.Resource.(Queued)
	return ok && qa.Queue() != nil && qa.Queue() == qb.Queue()
}

// releaseQueued releases n's order edges to resources of its queue as n starts: the
// queue does their work after n's.
func (r *run) releaseQueued(n *node) {
	for _, d := range n.out {
		if d.order && sameQueue(n, d.n) {
			n.released = true
			d.n.busy--
			if d.n.st == waiting && d.n.busy == 0 {
				heap.Push(&r.check, d.n)
			}
		}
	}
}

// finishNode ends n's evaluation (or skip) with res and wakes its dependents.
func (r *run) finishNode(n *node, res outcome, roots []string) {
	n.st = idle
	n.recheck = false
	r.active--
	n.result = res
	n.roots = roots
	released := n.released
	n.released = false
	for _, d := range n.out {
		if released && d.order && sameQueue(n, d.n) {
			continue // released when n started
		}
		d.n.busy--
		switch {
		case d.n.st == waiting:
			if d.n.busy == 0 {
				heap.Push(&r.check, d.n)
			}
		case r.passDone && res == success && d.n.st == idle && !d.order &&
			(d.n.result == skipped || d.n.result == failure && !d.n.permanent):
			// This dependency is in order: a dependent that was skipped, or failed
			// perhaps because of it, gets another go now rather than at its retry.
			if d.n.drift != nil && d.n.drift.minRetry == 0 {
				d.n.drift.retryAt = time.Time{}
			}
			r.want(d.n)
		}
	}
}

// enqueue puts a node on the ready queue its resource belongs to.
func (r *run) enqueue(n *node) {
	if isOffloaded(n.v.Resource) {
		heap.Push(&r.offReady, n)
		return
	}
	heap.Push(&r.ready, n)
}

func isOffloaded(res Resource) bool {
	_, ok := res.(Offloaded)
	return ok
}

func (r *run) dispatch() {
	if r.offReady.Len() == 0 && (r.ready.Len() == 0 || r.slots >= r.e.cfg.Parallelism) || !r.enterGate() {
		return
	}
	for r.offReady.Len() > 0 {
		r.start1(heap.Pop(&r.offReady).(*node), false)
	}
	for r.slots < r.e.cfg.Parallelism && r.ready.Len() > 0 {
		r.start1(heap.Pop(&r.ready).(*node), true)
	}
}

// start1 starts evaluating n, unless one of its locks is held; slot says whether it
// takes one of the Parallelism slots.
func (r *run) start1(n *node, slot bool) {
	locks := lockNames(n.v.Resource)
	if r.locked(locks) {
		r.blocked = append(r.blocked, n)
		return
	}
	for _, l := range locks {
		r.locks[l] = true
	}
	n.st = running
	r.running++
	if slot {
		r.slots++
	}
	count, real := n.refreshes, n.real
	n.refreshes, n.real = 0, 0
	// A vertex evaluated for the first time (new in a swapped-in graph) brings
	// something new, not a repair.
	corrective := r.passDone && n.result != none
	if q, ok := n.v.Resource.(Queued); ok {
		r.seq++
		q.Dispatched(r.seq)
		r.releaseQueued(n)
	}
	if _, ok := n.v.Resource.(Unwatched); ok {
		r.rechecked = nil
	}
	_, ask := r.asking[n]
	j := job{n: n, refreshes: count, real: real, corrective: corrective, ask: ask}
	select {
	case r.jobs <- j: // an idle worker takes it
	default:
		go r.worker(j)
	}
}

// job is one evaluation for a worker.
type job struct {
	n               *node
	refreshes, real int
	corrective, ask bool
}

// worker evaluates j, then waits for the next job until the run ends. Workers
// outlive their evaluations so that the stack one grew is there for the next: a
// new goroutine per evaluation grew its stack again each time, some 6% of the
// time of a run that checks 100,000 files. The loop never waits for a worker:
// with none idle, it starts one (Offloaded resources and lent slots are not
// bounded by Parallelism).
func (r *run) worker(j job) {
	for {
		r.done <- r.evaluate(j.n, j.refreshes, j.real, j.corrective, j.ask)
		// At most Parallelism wait: more, started for a burst of Offloaded
		// resources or lent slots, would stay for as long as a daemon runs.
		if r.idle.Add(1) > int32(r.e.cfg.Parallelism) {
			r.idle.Add(-1)
			return
		}
		var ok bool
		j, ok = <-r.jobs
		r.idle.Add(-1)
		if !ok {
			return
		}
	}
}

func lockNames(res Resource) []string {
	l, ok := res.(Locker)
	if !ok {
		return nil
	}
	names := l.Locks()
	sort.Strings(names)
	return names
}

func (r *run) locked(names []string) bool {
	for _, l := range names {
		if r.locks[l] {
			return true
		}
	}
	return false
}

// aborted says whether Config.Abort has ended the run.
func (r *run) aborted() bool { return r.e.cfg.Abort != nil && r.e.cfg.Abort.Err() != nil }

// evaluate runs in a worker goroutine: CheckApply, then Refresh when events came.
// With ask, a dependency failed and the Unskippable resource is asked first.
func (r *run) evaluate(n *node, refreshes, real int, corrective, ask bool) completion {
	obs := r.e.cfg.Observer
	start := time.Now()
	n.noop = r.e.cfg.Noop || n.v.Noop
	n.corrective = corrective
	n.changes = 0
	n.evaluating = true
	defer func() { n.evaluating = false }()
	c := completion{n: n}
	if ask {
		evaluate, err := n.v.Resource.(Unskippable).DependencyFailed(r.work)
		if r.aborted() {
			c.aborted = true
			return c
		}
		if !evaluate {
			c.skip, c.err = true, err
			return c
		}
		refreshes, real = 0, 0 // a failed dependency sends nothing
	}
	n.collecting = true
	if p, ok := n.v.Resource.(RefreshPreparer); ok {
		p.PrepareRefresh(refreshes > 0, n.noop || real == 0)
	}
	ok, err := n.v.Resource.CheckApply(r.work, !n.noop)
	if err != nil && r.aborted() {
		c.aborted = true
		var ce *ChangeError
		if !errors.As(err, &ce) {
			n.collecting, n.pending = false, n.pending[:0]
			return c
		}
		n.flushChanges(err)
		halted := *ce
		halted.Halted = true
		obs.Observe(Event{Kind: EventFailure, Vertex: n.v, Time: time.Now(), Err: &halted, Corrective: corrective})
		return c
	}
	n.flushChanges(err)
	if err != nil {
		c.err = err
		obs.Observe(Event{Kind: EventFailure, Vertex: n.v, Time: time.Now(), Err: err, Corrective: corrective})
	} else {
		c.changed = !ok || n.changes > 0
	}
	// Every change is an event for the dependents along refresh edges, as in Puppet;
	// a noop change is a noop event.
	if c.changed {
		c.events = max(n.changes, 1)
		if !n.noop {
			c.real = c.events
		}
	}
	if sr, ok := n.v.Resource.(SelfRefresher); ok && err == nil && c.changed && sr.SelfRefresh() {
		refreshes += c.events
		if !n.noop {
			real += c.events
		}
	}
	if inv, ok := n.v.Resource.(RefreshInvalidator); ok && inv.RefreshInvalidated() {
		refreshes = 0
	}
	// As Puppet's event manager, the events waiting for a resource are processed
	// after its evaluation even when that failed (a failed Exec runs again for
	// them, a Service that could not start is not restarted). Puppet says that it
	// triggered the refresh once the refresh is done, not when it fails.
	if refreshes > 0 {
		if rf, isRefresher := n.v.Resource.(Refresher); isRefresher {
			noop := n.noop || real == 0
			c.events++ // restarted, or with noop the restart it would have made
			switch {
			case noop:
				obs.Observe(Event{Kind: EventRefresh, Vertex: n.v, Time: time.Now(), Count: refreshes, Noop: true, Corrective: corrective})
			default:
				if rerr := rf.Refresh(r.work, true); rerr != nil {
					if r.aborted() {
						c.aborted = true
						return c
					}
					c.refreshErr = true
					if c.err == nil {
						c.err = rerr
					}
					obs.Observe(Event{Kind: EventFailure, Vertex: n.v, Time: time.Now(), Err: rerr, Refresh: true, Corrective: corrective})
				} else {
					obs.Observe(Event{Kind: EventRefresh, Vertex: n.v, Time: time.Now(), Count: refreshes, Corrective: corrective})
					c.restarted = true
					c.real++
				}
			}
		}
	}
	if r.e.cfg.ConvergedTimeout != 0 && !n.watching {
		if err := n.v.Resource.Watch(r.ctx); err != nil {
			obs.Observe(Event{Kind: EventLog, Vertex: n.v, Time: time.Now(), Level: Warning, Message: fmt.Sprintf("cannot watch: %v", err)})
		} else {
			n.watching = true
		}
	}
	obs.Observe(Event{Kind: EventEvaluated, Vertex: n.v, Time: time.Now(), Changed: c.changed, Failure: c.err != nil,
		Noop: n.noop, Corrective: corrective, Duration: time.Since(start)})
	return c
}

// complete takes a worker's result back into the loop.
func (r *run) complete(c completion) {
	n := c.n
	recheck := n.recheck
	n.recheck = false
	r.running--
	if !isOffloaded(n.v.Resource) {
		r.slots--
	}
	for _, l := range lockNames(n.v.Resource) {
		delete(r.locks, l)
	}
	if len(r.blocked) > 0 {
		for _, b := range r.blocked {
			r.enqueue(b)
		}
		r.blocked = r.blocked[:0]
	}
	if c.changed {
		n.everOutOfSync = true
		if !n.noop {
			n.everChanged = true
			if r.passDone {
				r.result.Corrective++
				if c.err == nil && !recheck {
					r.noteRepair(n)
				}
			}
		}
	}
	if c.restarted {
		n.everRestarted = true
	}
	if c.refreshErr {
		n.everFailedRestart = true
	}
	if c.aborted {
		return
	}
	if roots, ok := r.asking[n]; ok {
		c.roots = roots
		r.answered(n)
	}
	if c.skip {
		r.skipAsked(c)
		if n.again {
			r.wantAgain(n)
		}
		return
	}
	res, roots := success, []string(nil)
	failed := n.result == failure // before this evaluation
	n.unevaluated = false
	if c.err != nil {
		res, roots = failure, []string{n.v.Name}
		n.unevaluated = IsUnevaluated(c.err)
		n.permanent = IsPermanent(c.err)
	} else if n.drift != nil {
		n.drift.retries, n.drift.retryAt, n.drift.minRetry = 0, time.Time{}, 0
	}
	if c.err != nil && r.passDone {
		n.repairs().minRetry = retryAfter(c.err)
	}
	r.finishNode(n, res, roots)
	// Events go along refresh edges. Of the other dependents, only the Unwatched
	// (and those on the way to them) are looked at again after a repair; the
	// watches of the others tell when they drift. A failure that ends is like a
	// repair: what it held back may now give another answer.
	if c.err == nil && c.events > 0 {
		r.send(n, c.events, c.real)
	}
	if r.passDone && c.err == nil && (c.real > 0 || failed) {
		r.recheckUnwatched(n)
	}
	if res == failure && r.passDone {
		r.retry(n)
	}
	if n.again {
		r.wantAgain(n)
	}
}

// recheckUnwatched wants the Unwatched resources that depend on n, directly or
// through others, after a repair of n: nothing would tell them otherwise that
// their checks may now give another answer. So that they run in graph order, as
// in a Puppet run, the resources on the paths from n to them are wanted too:
// each waits for those it depends on, and one Unwatched behind another through a
// watched resource waits for it. The other dependents are not looked at again;
// their watches tell when they drift. Ordering edges (AddOrderEdge) are not
// dependencies and are not followed.
//
// Until one of those Unwatched starts, they all wait: a later repair does not
// go through the same nodes again (rechecked), so a burst of repairs costs one
// walk, not one for each.
func (r *run) recheckUnwatched(n *node) {
	if _, ok := r.rechecked[n]; ok {
		return // gone through already: what is behind it waits
	}
	if r.rechecked == nil {
		r.rechecked = map[*node]bool{}
	}
	var wave []*node
	for _, d := range n.out {
		if !d.order {
			r.leadsToUnwatched(d.n, &wave)
		}
	}
	// Every one is wanted before any starts: each waits for those of them it
	// depends on.
	for _, m := range wave {
		if m.result == failure && m.drift != nil && m.drift.minRetry == 0 {
			// What it depends on was repaired: one that failed, perhaps because
			// of it, gets another go now rather than at its retry (as
			// finishNode gives a direct dependent).
			m.drift.retryAt = time.Time{}
		}
		r.wantRecheck(m)
	}
}

// wantRecheck wants m for recheckUnwatched. That is no repair: neither the rate
// limit nor fight damping holds it back, or what is behind it would run before
// it (the busy count of a node held back by a timer does not hold its dependents).
// One that failed keeps its retry backoff: what is behind it is skipped meanwhile,
// as in a Puppet run. One running goes again after, its check having begun before
// the repair.
func (r *run) wantRecheck(m *node) {
	if m.removed || m.v.Skip {
		return
	}
	switch m.st {
	case running:
		if !m.again {
			m.againRecheck = true
		}
		m.again = true
		return
	case waiting, queued:
		return
	}
	if m.result == failure && !m.permanent {
		if d := m.repairs().retryAt.Sub(time.Now()); d > 0 {
			r.schedule(m, d)
			return
		}
	}
	r.activate(m)
	m.recheck = true
}

// wantAgain wants n, poked while it ran, once it is done: as a recheck when
// only rechecks poked it.
func (r *run) wantAgain(n *node) {
	recheck := n.againRecheck
	n.again, n.againRecheck = false, false
	if recheck {
		r.wantRecheck(n)
		return
	}
	r.want(n)
}

// leadsToUnwatched reports whether m is an Unwatched resource or depends on one
// that is not through dependency edges, and adds m to wave when so. What it found
// for each node is kept in r.rechecked.
func (r *run) leadsToUnwatched(m *node, wave *[]*node) bool {
	if found, ok := r.rechecked[m]; ok {
		return found
	}
	r.rechecked[m] = false
	found := false
	for _, d := range m.out {
		if !d.order && r.leadsToUnwatched(d.n, wave) {
			found = true
		}
	}
	if _, ok := m.v.Resource.(Unwatched); ok && !m.v.Relay {
		found = true
	}
	if found {
		r.rechecked[m] = true
		*wave = append(*wave, m)
	}
	return found
}

func (r *run) retry(n *node) {
	if n.permanent || r.e.cfg.ConvergedTimeout == 0 {
		return
	}
	dr := n.repairs()
	d := r.e.cfg.RetryMin << dr.retries
	if d > r.e.cfg.RetryMax || d <= 0 {
		d = r.e.cfg.RetryMax
	} else {
		dr.retries++
	}
	d = max(d, dr.minRetry)
	dr.retryAt = time.Now().Add(d)
	r.schedule(n, d)
}

// loop runs until the first pass is done and, in continuous mode, until converged or
// ctx ends; then it waits for in-flight evaluations.
func (r *run) loop(ctx context.Context) error {
	var converged *time.Timer
	var convergedC <-chan time.Time
	stopping := false
	for {
		if r.active == 0 && !r.passDone {
			r.passDone = true
			r.result.FirstPass = time.Since(r.start)
			r.e.cfg.Observer.Observe(Event{Kind: EventPassDone, Time: time.Now(), Duration: r.result.FirstPass})
			if r.e.cfg.ConvergedTimeout == 0 {
				return nil
			}
			for _, n := range r.nodes {
				if n.result == failure {
					r.retry(n)
				}
			}
			for _, n := range r.afterPass {
				r.wantPoked(n)
			}
			r.afterPass = nil
			r.settle()
			continue
		}
		if r.swapping && r.active == 0 {
			r.swapping = false
			r.e.cfg.Observer.Observe(Event{Kind: EventSwapDone, Time: time.Now(), Duration: time.Since(r.swapStart)})
		}
		r.leaveGate()
		if stopping && r.running == 0 {
			return nil
		}
		if r.passDone && r.e.cfg.ConvergedTimeout > 0 {
			if r.active == 0 && converged == nil {
				converged = time.NewTimer(r.e.cfg.ConvergedTimeout)
				convergedC = converged.C
			} else if r.active > 0 && converged != nil {
				converged.Stop()
				converged, convergedC = nil, nil
			}
		}
		var swapC chan swapReq
		if !stopping && r.running == 0 {
			swapC = r.e.swap
		}
		var doneC <-chan struct{}
		if !stopping {
			doneC = ctx.Done()
		}
		select {
		case c := <-r.done:
			r.complete(c)
		case <-r.e.wake:
			r.drainPokes()
		case <-r.gateRetryC():
			r.gateTimer = nil // asked again by the settle below
		case lend := <-r.e.yields:
			if lend {
				r.slots--
			} else {
				r.slots++
			}
		case req := <-swapC:
			req.done <- r.swapIn(req.g)
		case <-convergedC:
			r.e.cfg.Observer.Observe(Event{Kind: EventConverged, Time: time.Now()})
			return nil
		case <-doneC:
			stopping = true
			r.ready = r.ready[:0]
			r.offReady = r.offReady[:0]
			continue
		}
		if !stopping {
			r.settle()
		}
	}
}

func (r *run) drainPokes() {
	e := r.e
	e.pokeMu.Lock()
	list := e.pokeList
	e.pokeList = nil
	e.pokeMu.Unlock()
	for _, n := range list {
		n.pokeQueued.Store(false)
		n.stopTimer()
		if !r.passDone && n.st == idle && n.result != none {
			// Already evaluated in this first pass: look again once it is over, so
			// that the first pass evaluates each vertex once, as Puppet does.
			r.afterPass = append(r.afterPass, n)
			continue
		}
		r.wantPoked(n)
	}
}

// wantPoked wants n, poked after the first pass, and its direct dependencies: the
// drift that poked n may have hit what n depends on too, and that event may not be
// here yet (userdel writes /etc/passwd before /etc/group). Looking at them first
// repairs in dependency order, as a Puppet run would.
func (r *run) wantPoked(n *node) {
	if !r.passDone {
		r.want(n)
		return
	}
	for _, d := range n.in {
		if !d.order && !d.n.v.Relay && d.n.st == idle {
			r.want(d.n)
		}
	}
	n.recheck = false // drifted itself: what it changes is a repair
	r.want(n)
}

// swapIn replaces the graph; it runs only when nothing is running.
func (r *run) swapIn(g *Graph) error {
	if cycles := g.Cycles(); len(cycles) > 0 {
		return fmt.Errorf("swap: graph has cycles: %v", cycles)
	}
	old := make(map[string]*node, len(r.nodes))
	for _, n := range r.nodes {
		old[n.v.Name] = n
	}
	r.rechecked = nil // the edges change
	r.swapping, r.swapStart = true, time.Now()
	prev := r.nodes
	if err := r.load(g, old); err != nil {
		r.nodes = prev
		return fmt.Errorf("swap: %w", err)
	}
	for _, n := range old {
		n.removed = true
		if n.st != idle {
			r.active--
		}
		n.stopTimer()
		if !n.v.inert() {
			_ = n.v.Resource.Close()
		}
	}
	r.ready = r.ready[:0]
	r.offReady = r.offReady[:0]
	r.blocked = r.blocked[:0]
	for _, n := range r.nodes {
		n.busy = 0
	}
	for _, n := range r.nodes {
		if n.st != idle {
			for _, d := range n.out {
				if n.released && d.order && sameQueue(n, d.n) {
					continue
				}
				d.n.busy++
			}
		}
	}
	for _, n := range r.nodes {
		if n.st == queued {
			n.st = waiting
			heap.Push(&r.check, n)
		}
		if n.result == none && n.st == idle {
			r.wantNow(n)
		}
	}
	return nil
}

// wantNow is want without the rate limit, for vertices new to the graph.
func (r *run) wantNow(n *node) {
	if n.st != idle {
		return
	}
	r.activate(n)
}

func (r *run) closeAll() {
	for _, n := range r.nodes {
		n.stopTimer()
		if !n.v.inert() {
			_ = n.v.Resource.Close()
		}
	}
}

func (r *run) finish() Result {
	res := r.result
	for _, n := range r.nodes {
		if n.v.inert() {
			continue
		}
		res.Total++
		if n.everChanged {
			res.Changed++
		}
		if n.everOutOfSync {
			res.OutOfSync++
		}
		if n.everRestarted {
			res.Restarted++
		}
		if n.everFailedRestart {
			res.FailedToRestart++
		}
		switch n.result {
		case failure:
			res.Failed++
			if n.unevaluated {
				res.Skipped++
			}
		case skipped:
			res.Skipped++
		}
	}
	return res
}

func uniqSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
