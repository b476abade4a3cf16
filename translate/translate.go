package translate

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/delegate"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
	"github.com/mgmt-puppet/mgmt-puppet/resources/filecache"
)

// Options select what is applied.
type Options struct {
	// Tags, when set, restricts the run to resources with one of these tags (--tags).
	Tags []string
	// SkipTags leaves out resources with one of these tags (--skip-tags).
	SkipTags []string
	// ModulePath lists the folders puppet:///modules/ file sources are found in;
	// "$environment" in them stands for the catalog's environment, as in Puppet's
	// modulepath setting.
	ModulePath []string
	// UnavailableSources are puppet:/// sources that could not be fetched, with
	// why (an agent's server gone): the Files with them fail.
	UnavailableSources map[string]error
	// Mounts, when set, is where an agent put its copies of the server's mounts
	// other than modules (puppet:///MOUNT/P as MOUNT/P under it). Unset, a File
	// with such a source, or one of another host or scheme (puppet://HOST/,
	// http(s)://), is Puppet's to apply (Delegate), or a problem without it.
	Mounts string
	// Delegate, when set, runs the resources of types without a native
	// implementation through Puppet itself; when nil such resources are an error.
	Delegate *delegate.Runner
	// DelegateTypes are native types to hand to Delegate all the same (a site that
	// does not trust a native type yet).
	DelegateTypes []string
	// Serial orders every resource after the one Puppet applies before it, so that
	// nothing runs at the same time (--serial).
	Serial bool
	// Noop says the graph will be run with nothing changed (--noop): every
	// resource only reads, as a resource marked noop does, so no two interfere
	// and no ordering is added for safety (docs/parallel-safety.md). Resources
	// run by Puppet then go to it in as few runs as the relationships allow.
	Noop bool
	// ShowDiff is Puppet's show_diff setting: Files log a unified diff of the
	// content they change (unless their show_diff parameter is false).
	ShowDiff bool
	// FileCache, when set, is trusted about the content of files it remembers,
	// and remembers those read (filecache): Files then read only what changed
	// since it last saw them. Nil reads every file, as Puppet does.
	FileCache *filecache.Cache
	// Consume says the caller reads the catalog no more once Translate returns:
	// its containment edges, and the parameters of resources of the types that
	// allow it (Native.Consumable), are dropped as soon as they are read, so that
	// the catalog's memory goes as the graph's grows.
	Consume bool
	// Final says no later graph will be swapped in for this one: vertices get no
	// Fingerprint (a digest of every resource's parameters, which only a swap
	// reads).
	Final bool
}

// Meta describes the Puppet resource behind a vertex; it is the vertex's Data.
type Meta struct {
	Type, Title string
	// Containment lists the containers from the outermost, as in reports
	// (["Stage[main]", "Main", "File[/etc/motd]"]).
	Containment []string
	// Tags are the resource's tags with those of its containers, sorted: what
	// --tags and --skip-tags match.
	Tags []string
	// ResourceTags are the resource's own tags in catalog order, as reports list them.
	ResourceTags []string
	File         string
	Line         int
	// Whit is set for the start and end vertices of containers.
	Whit bool
	// Loglevel is the level of the resource's change lines (the loglevel
	// metaparameter, notice by default).
	Loglevel engine.Level
}

// modules is where the catalog's puppet:/// sources are found: Options.ModulePath
// and Options.Mounts with $environment replaced, worked out once and shared by
// every resource.
func (t *translation) modules() *resources.ModuleRoots {
	if t.mods == nil {
		roots := resources.ModuleRoots{Dirs: t.opts.ModulePath, Mounts: t.opts.Mounts, Unavailable: t.opts.UnavailableSources}
		t.mods = roots.In(t.cat.Environment)
	}
	return t.mods
}

// sourced is a resource with sources, some of which only Puppet may fetch (File).
type sourced interface {
	UnfetchableSources(*resources.ModuleRoots) []string
}

// modulesUser is a resource that resolves puppet:///modules/ URLs (File).
type modulesUser interface {
	SetModules(*resources.ModuleRoots)
}

// diffShower is a resource that can show the diff of the content it changes
// (File), when Options.ShowDiff says so.
type diffShower interface {
	SetShowDiff(on bool)
}

// fileCacheUser is a resource that can trust Options.FileCache (File).
type fileCacheUser interface {
	SetFileCache(*filecache.Cache)
}

// Path is the containment path Puppet prints in logs:
// "/Stage[main]/Main/File[/etc/motd]".
func (m *Meta) Path() string { return "/" + strings.Join(m.Containment, "/") }

// Ref is "Type[title]".
func (m *Meta) Ref() string { return m.Type + "[" + m.Title + "]" }

// TypeStat counts the resources of one Puppet type by how they run.
type TypeStat struct {
	Type        string `json:"type"`
	Native      int    `json:"native"`      // run by a native resource
	Container   int    `json:"container"`   // classes, stages, defined types: expanded
	Delegated   int    `json:"delegated"`   // run by Puppet itself
	Unsupported int    `json:"unsupported"` // no native implementation, and no Puppet to run it
}

// Result is a translated catalog.
type Result struct {
	Graph *engine.Graph
	Stats []TypeStat
	// Warnings are Puppet's warnings about the catalog, for the log.
	Warnings []string
	// Orderings are the edges added so that resources that may interfere keep
	// Puppet's order (docs/parallel-safety.md).
	Orderings []Ordering
}

// Problems is the list of everything wrong with a catalog, sorted.
type Problems []string

func (p Problems) Error() string {
	return fmt.Sprintf("catalog is invalid (%d problems):\n  %s", len(p), strings.Join(p, "\n  "))
}

// Translate builds the engine graph of c. On error the Result still holds what could
// be built (for display); nothing of a catalog with problems may be applied.
func Translate(c *catalog.Catalog, o Options) (*Result, error) {
	t := &translation{
		cat:       c,
		opts:      o,
		byKey:     make(map[refKey]*item, len(c.Resources)),
		resources: make([]*item, 0, len(c.Resources)),
		stats:     map[string]*TypeStat{},
		graph:     engine.NewGraph(),
	}
	t.graph.Grow(len(c.Resources))
	t.addResources()
	t.datacatTargets()
	t.checkDelegated()
	t.addContainment()
	t.addVertices()
	t.addRelationships()
	t.build()
	t.generateConcats()
	t.linkRecursiveFiles()
	t.addContainmentEdges()
	t.datacatRiders()
	t.checkCycles()
	if len(t.problems) == 0 {
		t.addOrderings()
	}
	res := &Result{Graph: t.graph, Warnings: t.warnings, Orderings: t.orderings}
	for _, s := range t.stats {
		res.Stats = append(res.Stats, *s)
	}
	sort.Slice(res.Stats, func(i, j int) bool { return res.Stats[i].Type < res.Stats[j].Type })
	if len(t.problems) > 0 {
		return res, Problems(uniqSorted(t.problems))
	}
	return res, nil
}

// item is one catalog resource during translation.
type item struct {
	r         *catalog.Resource
	native    *Native
	container bool
	delegated bool
	skip      bool
	noop      bool
	visiting  bool // path or tags are being worked out (containment cycles)
	parents   []*item
	parent    [1]*item // parents' room for the usual one
	group     *group   // a container's own part
	meta      *Meta
	params    *Params
	unbuilt   *unbuilt // why the native resource built is not taken as it is
	// For containers, their start and end vertices; for resources, both are the
	// resource's own vertex.
	start, end *engine.Vertex
	ref        string         // "Type[title]"
	canon      string         // a native resource's namevar, canonical
	vertex     *engine.Vertex // a resource's vertex
}

// group is what only a container item has: what it contains, and its path and
// tags, worked out once for everything in it. (A resource's are in its Meta.)
type group struct {
	children []*item
	path     []string // containment path, once worked out
	tags     []string // tags with the containers', once worked out
	tagged   bool     // tags are worked out
}

// res is the resource of it's vertex, nil for containers.
func (it *item) res() engine.Resource {
	if it.vertex == nil {
		return nil
	}
	return it.vertex.Resource
}

type translation struct {
	cat   *catalog.Catalog
	opts  Options
	byKey map[refKey]*item
	// lowerTypes maps type names to their lower case.
	lowerTypes map[string]string
	resources  []*item
	stats      map[string]*TypeStat
	graph      *engine.Graph
	problems   Problems
	warnings   []string
	orderings  []Ordering
	// suitability caches Native.Suitable by type.
	suitability map[string]bool
	mods        *resources.ModuleRoots // shared by the Files; see modules
	fp          fingerprinter
	// own is the translation's own store, for its containers; each goroutine
	// that works out resources' vertices has one (addVertices).
	own store
}

// store is what working out vertices needs, for one goroutine: blocks that
// what every resource needs one of comes from, rather than an allocation each,
// and the tag lists made so far.
type store struct {
	metas    slab[Meta]
	vertices slab[engine.Vertex]
	strings  slab[string]
	// tagSets shares equal tag lists between resources, keyed by the tags joined
	// with NULs (built in keyBuf).
	tagSets map[string][]string
	keyBuf  []byte
	tagBuf  []string
}

// slab hands out the elements of blocks allocated slabBlock at a time: building
// a graph of 100,000 resources made a few small objects for each, and allocating
// them one by one was much of its time. An element lives as long as any of its
// block does, which is as long as the graph.
type slab[T any] []T

const slabBlock = 256

// next returns a zero T.
func (s *slab[T]) next() *T {
	if len(*s) == 0 {
		*s = make([]T, slabBlock)
	}
	p := &(*s)[0]
	*s = (*s)[1:]
	return p
}

// take returns n zero Ts, with no room to grow into the next ones.
func (s *slab[T]) take(n int) []T {
	if n > slabBlock/4 {
		return make([]T, n)
	}
	if len(*s) < n {
		*s = make([]T, slabBlock)
	}
	out := (*s)[:n:n]
	*s = (*s)[n:]
	return out
}

func (t *translation) problem(format string, args ...any) {
	t.problems = append(t.problems, fmt.Sprintf(format, args...))
}

// containerTypes are containers whatever their kind says.
var containerTypes = map[string]bool{"Class": true, "Stage": true, "Node": true, "Component": true, "Whit": true}

// refKey is the lookup key of a reference: the type is case-insensitive, and so are
// class titles.
type refKey struct{ typ, title string }

func (t *translation) key(typ, title string) refKey {
	lower, ok := t.lowerTypes[typ]
	if !ok {
		// Type names are few: each is lowered once.
		lower = strings.ToLower(typ)
		if t.lowerTypes == nil {
			t.lowerTypes = map[string]string{}
		}
		t.lowerTypes[typ] = lower
	}
	k := refKey{typ: lower, title: title}
	if lower == "class" {
		k.title = strings.ToLower(title)
	}
	return k
}

func (t *translation) addResources() {
	items := make([]item, len(t.cat.Resources))
	// What each resource needs of itself alone, on every CPU for a large catalog:
	// its reference and, for a type implemented natively, its parameters and
	// namevar.
	inBlocks(len(items), func() func(lo, hi int) {
		return func(lo, hi int) {
			for i := lo; i < hi; i++ {
				it, r := &items[i], &t.cat.Resources[i]
				it.r, it.ref = r, r.Ref()
				if n, ok := natives[r.Type]; ok && !containerTypes[r.Type] {
					it.params = newParams(r)
					it.canon = n.canonical(it.params.Namevar(n.Namevar))
				}
			}
		}
	})
	for i := range items {
		// An exported resource is in a node's own catalog only when the node
		// collects it itself (the compiler realizes it): it is applied like any
		// other, as the Puppet agent does.
		it := &items[i]
		r := it.r
		stat := t.stats[r.Type]
		if stat == nil {
			stat = &TypeStat{Type: r.Type}
			t.stats[r.Type] = stat
		}
		n, ok := natives[r.Type]
		switch {
		case ok && !containerTypes[r.Type] && !t.forcedDelegate(r.Type) && t.suitable(r.Type, n):
			it.native = n
			stat.Native++
		case containerTypes[r.Type] || (r.Kind != "" && r.Kind != "compilable_type"):
			it.container, it.group = true, &group{}
			stat.Container++
		case t.opts.Delegate != nil:
			it.delegated = true
			stat.Delegated++
		default:
			stat.Unsupported++
		}
		if it.native == nil {
			it.params = nil // read for a native type that does not run natively here
		}
		k := t.key(r.Type, r.Title)
		if _, dup := t.byKey[k]; dup {
			t.problem("%s: Duplicate declaration: %s is already declared", r.Ref(), r.Ref())
			continue
		}
		t.byKey[k] = it
		t.resources = append(t.resources, it)
	}
	// Second names: namevars and aliases, once every title is known.
	for _, it := range t.resources {
		if it.native != nil && it.canon != it.r.Title {
			t.alias(it, it.canon, !it.native.NotUnique, "namevar")
		}
		if name, ok := it.r.Parameters["name"].(string); ok && it.delegated && name != it.r.Title {
			// Most types' namevar is name.
			t.alias(it, name, false, "namevar")
		}
		if aliases, ok := it.r.Parameters["alias"]; ok {
			for _, a := range stringList(aliases) {
				t.alias(it, a, true, "alias")
			}
		}
	}
}

// suitable reports whether typ's native provider may run here: always without
// Puppet, else as Native.Suitable says (asked once per type).
func (t *translation) suitable(typ string, n *Native) bool {
	if n.Suitable == nil || t.opts.Delegate == nil {
		return true
	}
	if t.suitability == nil {
		t.suitability = map[string]bool{}
	}
	ok, asked := t.suitability[typ]
	if !asked {
		ok = n.Suitable()
		t.suitability[typ] = ok
	}
	return ok
}

func (t *translation) alias(it *item, name string, unique bool, what string) {
	k := t.key(it.r.Type, name)
	if other, ok := t.byKey[k]; ok && other != it {
		if unique {
			t.problem("%s: Cannot alias %s to %q; resource %s already declared", it.r.Ref(), it.r.Ref(), name, other.r.Ref())
		}
		return
	}
	t.byKey[k] = it
}

func (n *Native) canonical(s string) string {
	if n.Canonical == nil {
		return s
	}
	return n.Canonical(s)
}

// lookup resolves a reference "Type[title]" by title, namevar or alias.
func (t *translation) lookup(ref string) (*item, bool) {
	typ, title, ok := splitRef(ref)
	if !ok {
		return nil, false
	}
	return t.lookupRef(typ, title)
}

// lookupRef resolves the reference typ[title] as lookup does.
func (t *translation) lookupRef(typ, title string) (*item, bool) {
	if it, ok := t.byKey[t.key(typ, title)]; ok {
		return it, true
	}
	if n, ok := natives[canonicalType(typ)]; ok {
		if it, ok := t.byKey[t.key(typ, n.canonical(title))]; ok {
			return it, true
		}
	}
	return nil, false
}

// splitRef splits "Type[title]"; the title may hold brackets.
func splitRef(ref string) (typ, title string, ok bool) {
	i := strings.IndexByte(ref, '[')
	if i <= 0 || !strings.HasSuffix(ref, "]") {
		return "", "", false
	}
	return ref[:i], ref[i+1 : len(ref)-1], true
}

// canonicalType capitalises each segment: "concat::fragment" → "Concat::Fragment".
func canonicalType(typ string) string {
	parts := strings.Split(typ, "::")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + strings.ToLower(p[1:])
		}
	}
	return strings.Join(parts, "::")
}

func (t *translation) addContainment() {
	for _, e := range t.cat.Edges {
		src, ok1 := t.lookup(e.Source)
		dst, ok2 := t.lookup(e.Target)
		switch {
		case !ok1 || !ok2:
			t.problem("containment edge %s -> %s: no such resource", e.Source, e.Target)
			continue
		case !src.container:
			t.problem("containment edge %s -> %s: %s is not a container", e.Source, e.Target, e.Source)
			continue
		}
		src.group.children = append(src.group.children, dst)
		if dst.parents == nil {
			dst.parents = dst.parent[:0:1]
		}
		dst.parents = append(dst.parents, src)
	}
	if t.opts.Consume {
		t.cat.Edges = nil // read: they are parents and children now
	}
}

// containers returns the catalog resources of it's containers, outermost first,
// through first parents.
func containers(it *item) []*catalog.Resource {
	var out []*catalog.Resource
	seen := map[*item]bool{it: true}
	for p := it; len(p.parents) > 0 && !seen[p.parents[0]]; {
		p = p.parents[0]
		seen[p] = true
		out = append(out, p.r)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// containment returns it's path from the outermost container, through first
// parents. Each container's path is worked out once and shared: a resource's path
// costs one slice, its last element the resource's reference.
func (t *translation) containment(it *item, s *store) []string {
	if g := it.group; g != nil && g.path != nil {
		return g.path
	}
	var parent []string
	if len(it.parents) > 0 && !it.visiting {
		it.visiting = true // a containment cycle ends the path here
		parent = t.containment(it.parents[0], s)
		it.visiting = false
	}
	elem := it.ref
	if it.r.Type == "Class" {
		elem = canonicalType(it.r.Title)
	}
	path := s.strings.take(len(parent) + 1)
	copy(path, parent)
	path[len(parent)] = elem
	if it.group != nil {
		it.group.path = path
	}
	return path
}

// inherited reports the tags of it and its containers, and whether it is noop. A
// container's noop does not reach what it contains: Puppet 7 applying a catalog
// honours noop only on the resource itself (fixtures/noopmeta shows it).
func (t *translation) inherited(it *item, s *store) (tags []string, noop bool) {
	return t.allTags(it, s), isTrue(it.r.Parameters["noop"])
}

// allTags is the sorted union of the tags of it and of all its containers. Each
// container's set is worked out once, and equal sets share one slice: the
// resources of one class usually have the same tags.
func (t *translation) allTags(it *item, s *store) []string {
	g := it.group
	if g != nil && (g.tagged || it.visiting) {
		return g.tags
	}
	it.visiting = true
	for _, p := range it.parents {
		t.allTags(p, s)
	}
	it.visiting = false
	tags := s.tags(it)
	if g != nil {
		g.tags, g.tagged = tags, true
	}
	return tags
}

// tags is the sorted union of it's tags and its parents' as worked out already,
// shared with the resources before it that have the same.
func (s *store) tags(it *item) []string {
	// Built in tagBuf; copied only when the set is new.
	s.tagBuf = append(s.tagBuf[:0], it.r.Tags...)
	for _, p := range it.parents {
		s.tagBuf = append(s.tagBuf, p.group.tags...)
	}
	tags := uniqSorted(s.tagBuf)
	s.keyBuf = s.keyBuf[:0]
	for _, tag := range tags {
		s.keyBuf = append(append(s.keyBuf, tag...), 0)
	}
	if shared, ok := s.tagSets[string(s.keyBuf)]; ok {
		return shared
	}
	tags = slices.Clone(tags)
	if s.tagSets == nil {
		s.tagSets = map[string][]string{}
	}
	s.tagSets[string(s.keyBuf)] = tags
	return tags
}

func (t *translation) selected(tags []string) bool {
	has := func(want []string) bool {
		for _, w := range want {
			for _, tag := range tags {
				if strings.EqualFold(w, tag) {
					return true
				}
			}
		}
		return false
	}
	if len(t.opts.Tags) > 0 && !has(t.opts.Tags) {
		return false
	}
	return !has(t.opts.SkipTags)
}

// unbuilt is why a native resource built is not taken as it is: what its type
// does not implement yet, and whether Puppet runs it for that, or what Validate
// said.
type unbuilt struct {
	reasons  []string
	delegate bool
	invalid  error
}

// parallelBuild is the number of resources from which a translation works on
// every CPU, up to maxWorkers (a variable for the tests, which compare both
// ways); buildBlock is how many resources a goroutine takes at a time, and
// buildAhead how many blocks per goroutine may be built before build takes them
// in. Beyond maxWorkers goroutines, the serial parts are all that is left, and
// the blocks built ahead would only hold the parameters longer.
var parallelBuild = 2000

const (
	maxWorkers = 8
	buildBlock = 256
	buildAhead = 4
)

// buildNative builds it's native resource into its vertex, reading its
// parameters with used as the buffer of those read, which it returns for the
// next resource. A resource that uses parameters or values the native type does
// not have yet is to be handed to Puppet, when Puppet is there (it.unbuilt).
func (t *translation) buildNative(it *item, used []string, mods *resources.ModuleRoots) []string {
	it.params.used = append(used[:0], it.params.used...)
	res := it.native.Build(it.params)
	var reasons []string
	for _, name := range it.params.Unused(it.native.Ignorable...) {
		reasons = append(reasons, "parameter "+name)
	}
	used = it.params.settle()
	reasons = append(reasons, it.params.Unsupported()...)
	if s, ok := res.(sourced); ok {
		for _, src := range s.UnfetchableSources(mods) {
			reasons = append(reasons, "parameter source: "+src)
		}
	}
	errs := it.params.Errs()
	if len(reasons) > 0 && len(errs) == 0 && t.opts.Delegate != nil && !it.native.Together {
		it.unbuilt = &unbuilt{reasons: reasons, delegate: true}
		return used
	}
	// Where its sources are, before Validate looks at them.
	if m, ok := res.(modulesUser); ok {
		m.SetModules(mods)
	}
	var invalid error
	if res != nil && len(errs) == 0 {
		invalid = res.Validate()
	}
	if len(reasons) > 0 || invalid != nil {
		it.unbuilt = &unbuilt{reasons: reasons, invalid: invalid}
	}
	if d, ok := res.(diffShower); ok {
		d.SetShowDiff(t.opts.ShowDiff)
	}
	if c, ok := res.(fileCacheUser); ok && t.opts.FileCache != nil {
		c.SetFileCache(t.opts.FileCache)
	}
	it.vertex.Resource = res
	return used
}

// takeNative takes in it's resource as buildNative left it: hands it to Puppet,
// or notes the problems building it found.
func (t *translation) takeNative(it *item) {
	u := it.unbuilt
	it.unbuilt = nil
	if u != nil && u.delegate {
		t.delegateNative(it, u.reasons)
		return
	}
	for _, err := range it.params.Errs() {
		t.problems = append(t.problems, err.Error())
	}
	if u != nil {
		for _, r := range u.reasons {
			t.problems = append(t.problems, unsupportedProblem(it.r.Ref(), r))
		}
		if u.invalid != nil {
			t.problem("%s: %v", it.r.Ref(), u.invalid)
		}
	}
	t.checkRedactable(it)
}

// ofType lists the catalog resources of type typ ("firewall", "Host"): a
// Resources that purges typ must see them, or it would purge them too.
func (t *translation) ofType(typ string) []*catalog.Resource {
	want := canonicalType(typ)
	var out []*catalog.Resource
	for _, it := range t.resources {
		if canonicalType(it.r.Type) == want {
			out = append(out, it.r)
		}
	}
	return out
}

// unsupportedProblem is the problem a catalog has when ref uses what the native type
// does not implement and Puppet is not there to run it.
func unsupportedProblem(ref, reason string) string {
	return ref + ": " + reason + " is not supported yet"
}

// addVertices adds a vertex for every resource and the start and end of every
// container, in catalog order; the resources themselves are built later
// (build), once the relationships are known.
func (t *translation) addVertices() {
	// Containers first, one by one: their paths and tags are worked out once, and
	// read by what they contain.
	for _, it := range t.resources {
		if it.container {
			t.addMeta(it, &t.own)
		}
	}
	// Then the resources' metas and vertices, on every CPU for a large catalog:
	// each reads only its own resource and its containers'.
	inBlocks(len(t.resources), func() func(lo, hi int) {
		s := &t.own
		if len(t.resources) >= parallelBuild {
			s = &store{}
		}
		return func(lo, hi int) {
			for _, it := range t.resources[lo:hi] {
				if !it.container {
					t.addMeta(it, s)
				}
			}
		}
	})
	for _, it := range t.resources {
		if it.container {
			whit := *it.meta
			whit.Whit = true
			it.start = &engine.Vertex{Name: "Whit[Admissible_" + strings.ToLower(it.r.Type) + "[" + it.r.Title + "]]", Relay: true, Data: &whit}
			it.end = &engine.Vertex{Name: "Whit[Completed_" + strings.ToLower(it.r.Type) + "[" + it.r.Title + "]]", Relay: true, Data: &whit}
			t.addVertex(it.start)
			t.addVertex(it.end)
			continue
		}
		if !t.opts.Final {
			it.vertex.Fingerprint = t.fp.sum(it.r)
		}
		t.addVertex(it.vertex)
	}
}

// addMeta works out it's containment path, tags and Meta, and, for a resource,
// its vertex, with what s holds.
func (t *translation) addMeta(it *item, s *store) {
	path := t.containment(it, s)
	tags, noop := t.inherited(it, s)
	it.meta = s.metas.next()
	*it.meta = Meta{Type: it.r.Type, Title: it.r.Title,
		Containment: path, Tags: tags, ResourceTags: it.r.Tags, File: it.r.File, Line: it.r.Line, Loglevel: engine.Notice}
	if it.params != nil {
		it.meta.Loglevel = loglevel(it.params)
	}
	if it.container {
		return
	}
	it.vertex = s.vertices.next()
	*it.vertex = engine.Vertex{Name: it.ref, Data: it.meta, Noop: noop, Skip: !t.selected(tags)}
	it.start, it.end = it.vertex, it.vertex
	it.noop, it.skip = noop, it.vertex.Skip
}

// inBlocks calls the function that each goroutine's setup returns for blocks
// [lo, hi) of n items, which together cover them all once: on every CPU when n
// is parallelBuild or more, else on this goroutine.
func inBlocks(n int, setup func() func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), maxWorkers)
	if n < parallelBuild {
		workers = 1
	}
	var next atomic.Int64
	run := func(f func(lo, hi int)) {
		for {
			lo := int(next.Add(buildBlock)) - buildBlock
			if lo >= n {
				return
			}
			f(lo, min(lo+buildBlock, n))
		}
	}
	if workers == 1 {
		run(setup())
		return
	}
	var wg sync.WaitGroup
	for range workers {
		f := setup()
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(f)
		}()
	}
	wg.Wait()
}

// build builds every native resource, or hands it to Puppet, adds its
// autorequires, and, with Options.Consume, drops the parameters nothing reads
// any more. The catalog's relationships are edges already, so that an
// autorequire the catalog states the other way round gives way (dependsOn).
func (t *translation) build() {
	consume := t.opts.Consume && !t.purges()
	mods := t.modules()
	// Native resources are built in blocks, on every CPU for a large catalog (a
	// Build reads only its own resource's parameters), and taken in block by
	// block in catalog order, a few blocks behind, so that a resource's
	// parameters go soon after it is built.
	blocks := (len(t.resources) + buildBlock - 1) / buildBlock
	block := func(b int) []*item { return t.resources[b*buildBlock : min((b+1)*buildBlock, len(t.resources))] }
	buildBlockOf := func(b int, used []string) []string {
		for _, it := range block(b) {
			if !it.container && it.native != nil {
				used = t.buildNative(it, used, mods)
			}
		}
		return used
	}
	workers := min(runtime.GOMAXPROCS(0), maxWorkers)
	if len(t.resources) < parallelBuild {
		workers = 0
	}
	var used []string
	done := make([]chan struct{}, blocks) // closed once block b is built
	if workers > 0 {
		for b := range done {
			done[b] = make(chan struct{})
		}
		ahead := make(chan struct{}, buildAhead*workers) // a token per block being built or waiting
		stop := make(chan struct{})                      // ends the workers waiting for a token
		defer close(stop)
		var next atomic.Int64
		for range workers {
			go func() {
				var used []string // the lists of parameters read share one buffer
				for {
					select {
					case ahead <- struct{}{}:
					case <-stop:
						return
					}
					b := int(next.Add(1)) - 1
					if b >= blocks {
						return
					}
					used = buildBlockOf(b, used)
					close(done[b])
				}
			}()
		}
		for b := range blocks {
			<-done[b]
			t.takeBlock(block(b), consume)
			<-ahead
		}
		return
	}
	for b := range blocks {
		used = buildBlockOf(b, used)
		t.takeBlock(block(b), consume)
	}
}

// takeBlock takes in the resources of a built block: the native resources
// built, those handed to Puppet, their autorequires; with consume, it drops the
// parameters nothing reads any more.
func (t *translation) takeBlock(items []*item, consume bool) {
	for _, it := range items {
		if it.container {
			continue
		}
		v := it.vertex
		if it.native != nil {
			t.takeNative(it)
		}
		if it.delegated {
			res := t.opts.Delegate.Resource(t.cat, it.r, containers(it))
			if it.r.Type == "Resources" {
				res.SetCompanions(t.ofType(it.r.Title))
			}
			v.Resource = res
		}
		if it.native != nil {
			t.autorequire(it)
		}
		if consume && it.native != nil && !it.native.Together && it.native.Consumable {
			// Read no more: the vertex has its fingerprint, the resource is
			// built, and its relationships and autorequires are edges.
			it.r.Parameters, it.params = nil, nil
		}
	}
}

// purges reports whether a Resources resource purges a type: it reads the
// catalog's resources of that type when it runs.
func (t *translation) purges() bool {
	for _, it := range t.resources {
		if it.r.Type == "Resources" {
			return true
		}
	}
	return false
}

// addContainmentEdges: a container's start comes before everything inside it,
// which comes before its end; events pass both ways.
func (t *translation) addContainmentEdges() {
	for _, it := range t.resources {
		if it.group == nil {
			continue
		}
		for _, c := range it.group.children {
			t.link(it.start, c.start, true)
			t.link(c.end, it.end, true)
		}
		if it.container {
			t.link(it.start, it.end, false)
		}
	}
}

// checkRedactable warns, as Puppet does, about Sensitive values of parameters that
// cannot be redacted from logs.
func (t *translation) checkRedactable(it *item) {
	for _, name := range it.r.SensitiveParameters {
		if metaparams[name] || contains(it.native.Redactable, name) {
			continue
		}
		t.warnings = append(t.warnings, fmt.Sprintf("/%s: Unable to mark '%s' as sensitive: %s is a parameter and not a property, and cannot be automatically redacted.",
			it.r.Ref(), name, name))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// addVertex adds v to the graph; false (a problem recorded) when its name is taken.
func (t *translation) addVertex(v *engine.Vertex) bool {
	if err := t.graph.AddVertex(v); err != nil {
		t.problem("%v", err)
		return false
	}
	return true
}

func (t *translation) edge(from, to string, refresh bool) {
	if err := t.graph.AddEdge(from, to, refresh); err != nil {
		t.problem("%v", err)
	}
}

func (t *translation) link(from, to *engine.Vertex, refresh bool) {
	if err := t.graph.AddEdgeBetween(from, to, refresh); err != nil {
		t.problem("%v", err)
	}
}

// relationships are the metaparameters that make edges: whether the other resource
// comes first, and whether the edge carries refresh events.
var relationships = []struct {
	name         string
	otherFirst   bool
	refresh      bool
	errDirection string
}{
	{"require", true, false, "from"},
	{"subscribe", true, true, "from"},
	{"before", false, false, "to"},
	{"notify", false, true, "to"},
}

func (t *translation) addRelationships() {
	for _, it := range t.resources {
		for _, rel := range relationships {
			v, ok := it.r.Parameters[rel.name]
			if !ok || v == nil {
				continue
			}
			for _, ref := range stringList(v) {
				other, ok := t.lookup(ref)
				if !ok {
					t.problem("%s: parameter %s: Could not find resource '%s' for relationship %s '%s'",
						it.r.Ref(), rel.name, ref, rel.errDirection, it.r.Ref())
					continue
				}
				if rel.otherFirst {
					t.link(other.end, it.start, rel.refresh)
				} else {
					t.link(it.end, other.start, rel.refresh)
				}
			}
		}
	}
}

// autorequire adds the edges of it's autorequires: of each group, the first
// resource the catalog has.
func (t *translation) autorequire(it *item) {
	if it.native.Autorequire == nil {
		return
	}
	for _, group := range it.native.Autorequire(it.params) {
		for _, ref := range group {
			other, ok := t.lookupRef(ref.Type, ref.Title)
			if !ok {
				continue
			}
			if other != it {
				// A dependency the catalog already states the other way round wins.
				if !t.dependsOn(other, it) {
					t.link(other.end, it.start, false)
				}
			}
			break
		}
	}
}

// dependsOn reports whether a directly depends on b through an explicit edge.
func (t *translation) dependsOn(a, b *item) bool {
	return t.graph.DependsOnVertex(a.start, b.end)
}

func (t *translation) checkCycles() {
	for _, comp := range t.graph.Cycles() {
		path := t.graph.CyclePath(comp)
		var names []string
		for _, n := range path {
			if v := t.graph.Vertex(n); v != nil && !v.Relay {
				names = append(names, n)
			}
		}
		if len(names) > 1 && names[0] != names[len(names)-1] {
			names = append(names, names[0])
		}
		t.problem("Found 1 dependency cycle: (%s)", strings.Join(names, " => "))
	}
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, stringList(e)...)
		}
		return out
	}
	if s, ok := scalarString(v); ok {
		return []string{s}
	}
	return nil
}

func isTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "true"
	}
	return false
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
