package translate

import (
	"fmt"
	"path"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/delegate"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/footprint"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// Ordering is an edge the translator added so that two resources with no
// relationship, which may interfere, keep the order in which Puppet applies them.
type Ordering struct {
	Before, After string // vertex names
	// Reason names what overlaps: "File[/etc/x] writes /etc/x/**, Exec[y] reads
	// /etc/x/y".
	Reason string
}

// precedesLimit bounds the walk that tells whether an ordering is implied already;
// past it, the edge is added all the same.
const precedesLimit = 10000

// addOrderings walks the graph in Puppet's order and adds an order edge from every
// resource to each later one whose footprint conflicts with it, unless the graph
// orders them already. With Options.Serial it chains every resource in that order.
func (t *translation) addOrderings() {
	order := t.graph.SerialOrder()
	var rank func(*engine.Vertex) int // made when first needed: most resources conflict with none
	byRank := func(v *engine.Vertex) int {
		if rank == nil {
			rank = t.graph.Ranks(order)
		}
		return rank(v)
	}
	if t.opts.Serial {
		var prev *engine.Vertex
		for _, v := range order {
			if v.Relay || v.Skip {
				continue
			}
			if prev != nil && !t.graph.DependsOn(v.Name, prev.Name) {
				t.orderEdge(prev, v, "serial order (--serial)")
			}
			prev = v
		}
		return
	}
	tracker := footprint.NewTracker()
	why := map[int]string{} // the reasons of the footprints that are everything
	for i, v := range order {
		if v.Relay || v.Skip || v.Resource == nil {
			continue
		}
		f := t.footprint(v)
		if f.Why != "" {
			why[i] = f.Why
		}
		conflicts := tracker.Add(i, f)
		if len(conflicts) == 0 {
			continue
		}
		froms := make([]*engine.Vertex, len(conflicts))
		for j, c := range conflicts {
			froms[j] = order[c.ID]
		}
		implied, _ := t.graph.Precedes(v, froms, byRank, precedesLimit)
		for j, c := range conflicts {
			before := order[c.ID]
			if implied[j] {
				continue
			}
			t.orderEdge(before, v, fmt.Sprintf("%s %s, %s %s", before.Name, describeAccess(why[c.ID], c.Earlier), v.Name, describeAccess(why[i], c.Later)))
		}
	}
}

func describeAccess(why string, a footprint.Access) string {
	if a.Key == footprint.All && a.Write && why != "" {
		return "may change anything (" + why + ")"
	}
	return a.String()
}

func (t *translation) orderEdge(before, after *engine.Vertex, reason string) {
	if err := t.graph.AddOrderEdgeBetween(before, after); err != nil {
		t.problem("%v", err)
		return
	}
	t.orderings = append(t.orderings, Ordering{Before: before.Name, After: after.Name, Reason: reason})
}

// footprint is what v's resource may read and change (docs/parallel-safety.md).
// A noop resource changes nothing, nor does any in a noop run: its writes become
// reads.
func (t *translation) footprint(v *engine.Vertex) footprint.Footprint {
	f := t.resourceFootprint(v)
	if v.Noop || t.opts.Noop {
		for i := range f.Accesses {
			f.Accesses[i].Write = false
		}
	}
	return f
}

// packageWhy explains the widest footprint.
const packageWhy = "a package's maintainer scripts may change anything"

func (t *translation) resourceFootprint(v *engine.Vertex) footprint.Footprint {
	switch r := v.Resource.(type) {
	case *resources.File:
		return fileFootprint(r)
	case *resources.Exec:
		return execFootprint(r)
	case *resources.FileLine:
		return footprint.Footprint{Accesses: []footprint.Access{footprint.Path(r.Path, true)}}
	case *resources.Host:
		return footprint.Footprint{Accesses: []footprint.Access{footprint.Path(r.Target, true)}}
	case *resources.SSHAuthorizedKey:
		target := r.Target
		acc := []footprint.Access{footprint.Path("/etc/passwd", false)}
		if target == "" {
			acc = append(acc, footprint.Tree(path.Join(t.homeOf(r.User), ".ssh"), true))
		} else {
			acc = append(acc, footprint.Path(target, true), footprint.Path(path.Dir(target), true))
		}
		return footprint.Footprint{Accesses: acc}
	case *resources.Cron:
		spool := r.SpoolDir
		if spool == "" {
			spool = "/var/spool/cron/crontabs"
		}
		user := r.User
		if user == "" {
			user = "root"
		}
		return footprint.Footprint{Accesses: []footprint.Access{footprint.Path(path.Join(spool, user), true)}}
	case *resources.Mount:
		return footprint.Footprint{Accesses: []footprint.Access{
			footprint.Path(r.Target, true), footprint.Tree(r.Name, true)}}
	case *resources.User:
		acc := accountFiles(r.Root, "passwd", "shadow", "group", "gshadow", "subuid", "subgid")
		if r.ManageHome {
			home := r.Home
			if home == "" {
				home = "/home/" + r.Name
			}
			acc = append(acc, footprint.Tree(path.Join("/", r.Root, home), true))
		}
		return footprint.Footprint{Accesses: acc}
	case *resources.Group:
		return footprint.Footprint{Accesses: accountFiles(r.Root, "group", "gshadow")}
	case *resources.Package:
		// Not even packages commute: a package installed first pulls in another as
		// its dependency, and Puppet then reports that one in sync.
		return footprint.Everything(packageWhy)
	case *resources.Service:
		// Starting a program that may read any file, and units that may need each
		// other: after every earlier change, before every later one.
		return footprint.Footprint{Accesses: []footprint.Access{
			footprint.ReadsEverything, footprint.Name("systemd", "/", true, true), footprint.Tree("/etc/systemd", true)}}
	case *resources.Mailalias:
		return footprint.Footprint{Accesses: []footprint.Access{footprint.Path(r.Target, true)}}
	case *resources.Sysctl:
		return footprint.Footprint{Accesses: []footprint.Access{footprint.Path(r.Target, true)}}
	case *resources.IniSetting:
		return footprint.Footprint{Accesses: []footprint.Access{footprint.Path(r.Path, true)}}
	case *resources.SysctlRuntime:
		// The running kernel: a service started before or after sees it.
		return footprint.Footprint{Accesses: []footprint.Access{footprint.Tree("/proc/sys", true), footprint.Name("sysctl", "/"+r.Name, false, true)}}
	case *resources.PostgresqlPSQL:
		// The server's state: statements on one server keep Puppet's order.
		return footprint.Footprint{Accesses: []footprint.Access{footprint.Name("postgresql", "/"+r.Port, true, true)}}
	case *resources.PostgresqlConnValidator:
		// It only connects and queries, again and again until the server answers:
		// it reads the server (the statements of its port, the units' state).
		if r.Port == "" {
			return footprint.Footprint{Accesses: []footprint.Access{footprint.ReadsEverything}}
		}
		return footprint.Footprint{Accesses: []footprint.Access{footprint.Name("systemd", "/", true, false),
			footprint.Name("postgresql", "/"+r.Port, true, false)}}
	case *resources.Notify, *resources.Anchor, *concatFragment, *concatFile:
		return footprint.Footprint{}
	case *delegate.Resource:
		if it, ok := t.lookup(v.Name); ok {
			return delegatedFootprint(it)
		}
	}
	return footprint.Everything(fmt.Sprintf("%T has no footprint", v.Resource))
}

func accountFiles(root string, names ...string) []footprint.Access {
	var out []footprint.Access
	for _, n := range names {
		out = append(out, footprint.Path(path.Join("/", root, "etc", n), true))
	}
	return out
}

// homeOf is a user's home as the catalog's User says, else Debian's default.
func (t *translation) homeOf(user string) string {
	if it, ok := t.lookup("User[" + user + "]"); ok {
		if h, ok := it.r.Parameters["home"].(string); ok && strings.HasPrefix(h, "/") {
			return h
		}
	}
	if user == "root" {
		return "/root"
	}
	return "/home/" + user
}

// fileFootprint: the path; with recursion, purging or force, everything under it;
// and local sources, read.
func fileFootprint(f *resources.File) footprint.Footprint {
	w := footprint.Path(f.Path, true)
	if f.Recurse != "" && f.Recurse != "false" || f.Purge || f.Force {
		w = footprint.Tree(f.Path, true)
	}
	acc := []footprint.Access{w}
	if f.ValidateCmd != "" {
		// A checker (apache2 -t, haproxy -c, visudo -c) reads what it includes.
		acc = append(acc, footprint.ReadsEverything)
	}
	for _, s := range f.Source {
		local := ""
		switch {
		case strings.HasPrefix(s, "file://"):
			local = strings.TrimPrefix(s, "file://")
		case strings.HasPrefix(s, "/"):
			local = s
		}
		if strings.HasPrefix(local, "/") {
			acc = append(acc, footprint.Tree(local, false))
		}
	}
	return footprint.Footprint{Accesses: acc}
}

// execFootprint: what its commands touch (footprint.Command), and the paths of
// creates, read.
func execFootprint(e *resources.Exec) footprint.Footprint {
	var acc []footprint.Access
	lines := append([]string{e.Command}, e.Onlyif...)
	lines = append(lines, e.Unless...)
	if e.RefreshCommand != "" {
		lines = append(lines, e.RefreshCommand)
	}
	env := map[string]string{}
	for _, kv := range e.Environment {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for _, l := range lines {
		f := footprint.Command(l, e.Cwd, env)
		if f.Why != "" {
			return f
		}
		acc = append(acc, f.Accesses...)
	}
	for _, c := range e.Creates {
		acc = append(acc, footprint.Path(c, false))
	}
	return footprint.Footprint{Accesses: acc}
}

// delegatedFootprint: the types run through Puppet whose parameters say what they
// change; every other one may change anything.
func delegatedFootprint(it *item) footprint.Footprint {
	str := func(name string) string {
		s, _ := it.r.Parameters[name].(string)
		return s
	}
	switch it.r.Type {
	case "Tidy":
		p := str("path")
		if p == "" {
			p = it.r.Title
		}
		if strings.HasPrefix(p, "/") {
			return footprint.Footprint{Accesses: []footprint.Access{footprint.Tree(p, true)}}
		}
	case "Ini_setting", "Ini_subsetting", "File_line":
		if p := str("path"); strings.HasPrefix(p, "/") {
			return footprint.Footprint{Accesses: []footprint.Access{footprint.Path(p, true)}}
		}
	case "Postgresql_conf":
		// puppetlabs-postgresql's parsed provider rewrites its target file.
		if p := str("target"); strings.HasPrefix(p, "/") {
			return footprint.Footprint{Accesses: []footprint.Access{footprint.Path(p, true)}}
		}
	case "Postgresql_conn_validator":
		// It only connects and queries, again and again until the server answers:
		// it reads the server (the statements of its port, the units' state), and
		// changes nothing.
		port := it.r.Parameters["port"]
		if port == nil {
			return footprint.Footprint{Accesses: []footprint.Access{footprint.ReadsEverything}}
		}
		return footprint.Footprint{Accesses: []footprint.Access{footprint.Name("systemd", "/", true, false),
			footprint.Name("postgresql", "/"+fmt.Sprint(port), true, false)}}
	case "Augeas":
		if p := str("incl"); strings.HasPrefix(p, "/") {
			return footprint.Footprint{Accesses: []footprint.Access{footprint.Path(p, true)}}
		}
		if c, ok := strings.CutPrefix(str("context"), "/files/"); ok && c != "" {
			return footprint.Footprint{Accesses: []footprint.Access{footprint.Tree("/"+c, true)}}
		}
	}
	return footprint.Everything(it.r.Type + " is run by Puppet")
}
