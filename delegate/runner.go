package delegate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// Config says how Puppet is run.
type Config struct {
	// Puppet is the puppet command; "puppet" from PATH when empty.
	Puppet string
	// ModulePath is passed as --basemodulepath, so that Puppet finds the types that
	// modules bring; "$environment" stands for the catalog's environment. Empty:
	// Puppet's own setting.
	ModulePath []string
	// LibDir is passed as --libdir: the plugins an agent's pluginsync brought
	// (the lib folders of the server's modules), whose types Puppet then loads.
	LibDir string
	// Sources, when set, is where an agent's copies of its server's puppet:///
	// sources are ("$environment" standing for the catalog's): modules as a
	// module path, the other mounts in Sources.Mounts. A File Puppet runs gets
	// them from there, as the agent's own Files do, and puppet:///modules/
	// sources are looked up in ModulePath too.
	Sources *resources.ModuleRoots
	// Gather is how long a request waits for others that become ready with it.
	Gather time.Duration
	// TypeDirs are the folders of Puppet's own types (lib/puppet/type), which tell
	// the types Puppet knows; nil: where Puppet's packages put them.
	TypeDirs []string
	// Interval is how often a delegated resource is checked again after the first
	// pass (Puppet has no events to tell us of drift); 0 never.
	Interval time.Duration
}

// DefaultGather is Config.Gather's default.
const DefaultGather = 50 * time.Millisecond

// Runner runs Puppet for the delegated resources of one catalog, one process at a
// time, each serving every request that waited for it.
type Runner struct {
	cfg     Config
	mu      sync.Mutex // held while Puppet runs
	dir     string     // private vardir and files of the runs, made on first use
	pending sync.Mutex
	waiting []*request
	runs    int // Puppet processes started, under mu
	// said are the lines Puppet prints once per run (onceKey) that were printed,
	// under mu.
	said map[string]bool
	made int // resources made, numbered in the order the translator made them
}

// request is one delegated resource's evaluation, waiting for a Puppet run.
type request struct {
	res         *Resource
	apply       bool
	refresh     bool // pass a refresh on
	refreshNoop bool // as a noop event: say what it would do
	done        chan outcome
}

// outcome is what one run says about one request's resource.
type outcome struct {
	status *status
	logs   []logLine // the run's lines about this resource, in order
	err    error     // the run as a whole failed
	// unsuitable: Puppet could not evaluate the resource at all, no provider of
	// its type being suitable here ("Could not find a suitable provider for T", or
	// "Provider P is not functional on this host").
	unsuitable bool
}

// NewRunner returns a runner; nothing runs until a resource is evaluated.
func NewRunner(cfg Config) *Runner {
	if cfg.Puppet == "" {
		cfg.Puppet = "puppet"
	}
	if cfg.Gather == 0 {
		cfg.Gather = DefaultGather
	}
	return &Runner{cfg: cfg}
}

// Runs is the number of Puppet processes started so far.
func (r *Runner) Runs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs
}

// Close removes the runner's private files.
func (r *Runner) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dir == "" {
		return nil
	}
	err := os.RemoveAll(r.dir)
	r.dir = ""
	return err
}

// do queues q and waits for the run that serves it.
func (r *Runner) do(ctx context.Context, q *request) outcome {
	q.done = make(chan outcome, 1)
	r.pending.Lock()
	r.waiting = append(r.waiting, q)
	r.pending.Unlock()
	time.Sleep(r.cfg.Gather)
	r.mu.Lock()
	r.pending.Lock()
	batch := r.waiting
	r.waiting = nil
	r.pending.Unlock()
	if len(batch) > 0 { // else an earlier request's run took this one
		// In the order the engine started them, which keeps the order edges between
		// them (Puppet's order where they may interfere), then in catalog order, as
		// Puppet would apply them (and as its parsedfile providers write their
		// records). The sub-catalog lists them so, without relationships, and
		// Puppet applies it in that order.
		sort.Slice(batch, func(i, j int) bool {
			a, b := batch[i].res, batch[j].res
			if a.seq != b.seq {
				return a.seq < b.seq
			}
			return a.order < b.order
		})
		r.runBatch(ctx, batch)
	}
	r.mu.Unlock()
	return <-q.done
}

// runBatch applies the batch's resources in one Puppet process and hands each
// request its outcome. Called with mu held.
func (r *Runner) runBatch(ctx context.Context, batch []*request) {
	fail := func(err error) {
		for _, q := range batch {
			q.done <- outcome{err: err}
		}
	}
	rep, err := r.apply(ctx, batch)
	if err != nil {
		fail(err)
		return
	}
	// Each log line goes to the resource it names; the lines of resources Puppet
	// generated (a Tidy's files) go to the one evaluated just before them.
	byPath := map[string]*request{}
	outs := make(map[*request]*outcome, len(batch))
	// Riders get requests of their own here, whose outcomes wait for their
	// evaluation (Resource.pending).
	var riders []*request
	for _, q := range batch {
		for _, rd := range q.res.riders {
			riders = append(riders, &request{res: rd, apply: q.apply})
		}
	}
	for _, q := range append(append([]*request{}, batch...), riders...) {
		st := rep.Statuses[q.res.res.Ref()]
		outs[q] = &outcome{status: st}
		if st == nil {
			outs[q].err = fmt.Errorf("puppet apply did not evaluate %s", q.res.res.Ref())
			continue
		}
		byPath[st.path()] = q
	}
	// The companions' lines are not ours: their resources are applied elsewhere.
	companion := map[string]bool{}
	for _, q := range batch {
		for _, c := range q.res.companions {
			companion[c.Ref()] = true
		}
	}
	// The types Puppet found no suitable provider for, said once per run; the
	// resources whose chosen provider is not functional.
	providerless := map[string]bool{}
	for _, l := range rep.Logs {
		if t, ok := providerlessType(l.Message); ok && l.Source == "Puppet" {
			providerless[t] = true
		}
		if strings.HasPrefix(l.Message, "Provider ") && strings.HasSuffix(l.Message, " is not functional on this host") {
			if q := owner(byPath, l.Source); q != nil {
				outs[q].unsuitable = true
			}
		}
	}
	for q, o := range outs {
		if o.status != nil && o.status.Failed && providerless[strings.ToLower(q.res.res.Type)] {
			o.unsuitable = true
		}
	}
	var last *request
	for _, l := range rep.Logs {
		if companion[refOf(l.Source)] {
			continue
		}
		// Puppet's own lines about the run (Applied catalog in...) are not ours to
		// print; its warnings and errors are.
		// Sources that are not paths are the sub-catalog's containers, saying what
		// they would have triggered: the engine's containers say that.
		if (l.Source == "Puppet" || l.Source == "") && logLevel(l.Level) < engine.Warning ||
			l.Source != "Puppet" && l.Source != "" && !strings.HasPrefix(l.Source, "/") ||
			strings.Contains(l.Source, "Notify["+triggerPrefix) {
			continue
		}
		if key := onceKey(l); key != "" {
			if r.said[key] {
				continue
			}
			if r.said == nil {
				r.said = map[string]bool{}
			}
			r.said[key] = true
		}
		q := owner(byPath, l.Source)
		if t, ok := providerlessType(l.Message); ok && q == nil {
			q = ofType(batch, t) // said of no resource: the first of that type takes it
		}
		if q == nil {
			q = last
		}
		if q == nil {
			q = batch[0]
		}
		last = q
		outs[q].logs = append(outs[q].logs, l)
	}
	r.pending.Lock()
	for _, q := range riders {
		o := *outs[q]
		q.res.pending = &o
	}
	r.pending.Unlock()
	for _, q := range batch {
		q.done <- *outs[q]
	}
}

// onceKey is, for a line Puppet prints once per run however many of its resources
// it concerns, what identifies it: a type's "Could not find a suitable provider for
// T", a provider's "Could not prefetch T provider 'P': ..."; else "".
func onceKey(l logLine) string {
	if l.Source != "Puppet" {
		return ""
	}
	if _, ok := providerlessType(l.Message); ok {
		return l.Message
	}
	if strings.HasPrefix(l.Message, "Could not prefetch ") {
		if i := strings.Index(l.Message, "': "); i > 0 {
			return l.Message[:i]
		}
	}
	return ""
}

// providerlessType is the type of Puppet's "Could not find a suitable provider for
// T" ("mysql_user"), which it says once per type and run of the resources it cannot
// evaluate.
func providerlessType(msg string) (string, bool) {
	return strings.CutPrefix(msg, "Could not find a suitable provider for ")
}

// ofType is the first request of the batch whose resource is of Puppet's type t
// ("mysql_user"), or nil.
func ofType(batch []*request, t string) *request {
	for _, q := range batch {
		if strings.EqualFold(q.res.res.Type, t) {
			return q
		}
	}
	return nil
}

// refOf is the resource reference a log source ends with ("/Stage[main]/Main/Host[x]"
// or ".../Host[x]/ensure" -> "Host[x]"), or "".
func refOf(source string) string {
	s := source
	if i := strings.LastIndexByte(s, '/'); i >= 0 && !strings.HasSuffix(s, "]") {
		s = s[:i]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			// A title may hold slashes: the reference starts at the last "/Type[".
			if j := strings.IndexByte(s[i+1:], '['); j > 0 && isTypeName(s[i+1:i+1+j]) {
				return s[i+1:]
			}
		}
	}
	return ""
}

// isTypeName reports whether s looks like a type name: Capitalised words and ::.
func isTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range s {
		if !(c == ':' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// owner finds the request whose resource a log source ("/Stage[main]/Main/Host[x]",
// or ".../Host[x]/ensure") names.
func owner(byPath map[string]*request, source string) *request {
	if q, ok := byPath[source]; ok {
		return q
	}
	if i := strings.LastIndexByte(source, '/'); i > 0 {
		return byPath[source[:i]]
	}
	return nil
}

// apply runs `puppet apply --catalog` on the batch's sub-catalog and reads its report.
func (r *Runner) apply(ctx context.Context, batch []*request) (*report, error) {
	if r.dir == "" {
		dir, err := os.MkdirTemp("", "mgmt-puppet-delegate-")
		if err != nil {
			return nil, err
		}
		r.dir = dir
	}
	head := batch[0].res.head
	data, err := subCatalog(head, batch, r.sourceRoots(head.Environment))
	if err != nil {
		return nil, err
	}
	catFile := filepath.Join(r.dir, "catalog.json")
	reportFile := filepath.Join(r.dir, "report.yaml")
	_ = os.Remove(reportFile)
	// The catalog may hold secrets: only its owner may read it (MkdirTemp's 0700
	// folder, and 0600 here).
	if err := os.WriteFile(catFile, data, 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(catFile)
	certname := head.Name
	if certname == "" {
		certname = "mgmt-puppet"
	}
	vardir := filepath.Join(r.dir, "var")
	if err := writeFacts(vardir, certname); err != nil {
		return nil, err
	}
	args := []string{"apply", "--catalog", catFile, "--color", "false",
		"--vardir", vardir, "--lastrunreport", reportFile,
		"--lastrunfile", filepath.Join(r.dir, "summary.yaml"),
		"--certname", certname, "--facts_terminus", "yaml"}
	if mp := r.modulePath(head.Environment); len(mp) > 0 {
		args = append(args, "--basemodulepath", strings.Join(mp, ":"))
	}
	if r.cfg.LibDir != "" {
		args = append(args, "--libdir", r.cfg.LibDir)
	}
	r.runs++
	cmd := exec.CommandContext(ctx, r.cfg.Puppet, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	f, err := os.Open(reportFile)
	if err != nil {
		return nil, runFailure(runErr, out.String())
	}
	defer f.Close()
	rep, err := readReport(f)
	if err != nil {
		return nil, errors.Join(err, runFailure(runErr, out.String()))
	}
	rep.Logs = append(beforeReport(out.String(), rep.Logs), rep.Logs...)
	return rep, nil
}

// beforeReport returns the warnings Puppet printed before its report began, which
// the report lacks: those a module's type gives while Puppet turns the catalog into
// resources (puppetlabs-firewall's "Passing port to firewall is deprecated ..."),
// as Puppet-wide lines. Puppet's console line is "Warning: MESSAGE" or "Warning:
// SOURCE: MESSAGE"; Facter's own lines are not Puppet's.
func beforeReport(console string, logs []logLine) []logLine {
	inReport := map[string]int{}
	for _, l := range logs {
		inReport[l.Message]++
		inReport[l.Source+": "+l.Message]++
	}
	var out []logLine
	for _, line := range strings.Split(console, "\n") {
		msg, ok := strings.CutPrefix(line, "Warning: ")
		if !ok || strings.HasPrefix(msg, "Facter: ") {
			continue
		}
		if inReport[msg] > 0 {
			inReport[msg]--
			continue
		}
		out = append(out, logLine{Level: "warning", Message: msg, Source: "Puppet"})
	}
	return out
}

// writeFacts gives Puppet a cached set of facts for certname, so that it does not
// run Facter before applying (half of its time): applying a compiled catalog needs
// no node facts, and providers ask Facter themselves for the few they need.
func writeFacts(vardir, certname string) error {
	dir := filepath.Join(vardir, "client_yaml", "facts")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, certname+".yaml")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	name := strconv.Quote(certname)
	data := "--- !ruby/object:Puppet::Node::Facts\nname: " + name + "\nvalues:\n  clientcert: " + name + "\n"
	return os.WriteFile(path, []byte(data), 0o600)
}

// sourceRoots says where the puppet:/// sources of a catalog of environment env
// are: Config.ModulePath, then Config.Sources.
func (r *Runner) sourceRoots(env string) *resources.ModuleRoots {
	roots := resources.ModuleRoots{Dirs: r.cfg.ModulePath}
	if src := r.cfg.Sources; src != nil {
		roots.Dirs, roots.Mounts = slices.Concat(r.cfg.ModulePath, src.Dirs), src.Mounts
	}
	return roots.In(env)
}

// modulePath is Config.ModulePath for a catalog of environment env.
func (r *Runner) modulePath(env string) []string {
	out := make([]string, len(r.cfg.ModulePath))
	for i, d := range r.cfg.ModulePath {
		out[i] = strings.ReplaceAll(d, "$environment", env)
	}
	return out
}

// runFailure says why a Puppet run produced no report, from its error lines.
func runFailure(err error, out string) error {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		// Facter's complaints about what it may not read in a container are noise.
		if strings.HasPrefix(l, "Error: ") && !strings.Contains(l, "Facter:") {
			lines = append(lines, strings.TrimPrefix(l, "Error: "))
		}
	}
	msg := strings.Join(lines, "; ")
	switch {
	case msg == "" && err != nil:
		msg = err.Error()
	case msg == "":
		msg = "no report written"
	}
	return fmt.Errorf("puppet apply: %s", msg)
}
