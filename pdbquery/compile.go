package pdbquery

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// maxDepth bounds the nesting of subqueries.
const maxDepth = 32

// compiler turns a query AST into a filter and a projection over one snapshot.
type compiler struct {
	d     *data
	facts map[string]map[string]any // certname -> facts, for ["fact", name] on nodes
	// restrict answers the top-level query for active nodes only, unless it
	// says node_state itself: PuppetDB does so on the root endpoint and on the
	// endpoints of nodes, facts, inventory, resources and edges.
	restrict bool
}

// restricted are the entity endpoints PuppetDB restricts to active nodes; on the
// root endpoint, every entity but these unrestricted ones.
var (
	restricted   = map[string]bool{"nodes": true, "facts": true, "inventory": true, "resources": true, "edges": true}
	unrestricted = map[string]bool{"environments": true, "fact_paths": true, "packages": true}
)

// filter says whether a row answers a query.
type filter func(Row) bool

// run answers q on entity: filtered rows, projected if q is an extract.
func (c *compiler) run(entity string, q any, depth int) ([]Row, error) {
	rows, x, err := c.filtered(entity, q, depth)
	if err != nil || x == nil {
		return rows, err
	}
	return x.project(c, entity, rows)
}

// filtered answers q on entity without its projection, returned apart.
func (c *compiler) filtered(entity string, q any, depth int) ([]Row, *extract, error) {
	if depth > maxDepth {
		return nil, nil, errorf("subqueries nested deeper than %d", maxDepth)
	}
	rows, err := c.d.entity(entity)
	if err != nil {
		return nil, nil, err
	}
	var x *extract
	if l, ok := q.([]any); ok && len(l) > 0 && l[0] == "extract" {
		if x, err = parseExtract(l); err != nil {
			return nil, nil, err
		}
		q = x.query
	}
	f, err := c.filter(entity, q, depth)
	if err != nil {
		return nil, nil, err
	}
	mentions := func(field string) bool { return strings.Contains(show(q), `"`+field+`"`) }
	var out []Row
	for _, r := range rows {
		if (entity == "nodes" || c.restrict && depth == 0) && !mentions("node_state") && !c.activeRow(r) {
			continue // active nodes only, unless asked for node_state
		}
		if entity == "reports" && !mentions("type") && r["type"] != "agent" {
			continue // and /reports agent reports, unless asked for a type
		}
		if f == nil || f(r) {
			out = append(out, r)
		}
	}
	if x != nil {
		return out, x, nil
	}
	return visible(out), nil, nil
}

// visible drops the fields that only filter (latest_report?, type of events).
func visible(rows []Row) []Row {
	out := make([]Row, len(rows))
	for i, r := range rows {
		if _, ok := r["latest_report?"]; !ok {
			out[i] = r
			continue
		}
		v := make(Row, len(r))
		for k, x := range r {
			if !strings.HasSuffix(k, "?") {
				v[k] = x
			}
		}
		out[i] = v
	}
	return out
}

func (c *compiler) filter(entity string, q any, depth int) (filter, error) {
	if q == nil {
		return nil, nil
	}
	l, ok := q.([]any)
	if !ok || len(l) == 0 {
		return nil, errorf("query term %s is not an operator list", show(q))
	}
	op, ok := l[0].(string)
	if !ok {
		return nil, errorf("query term %s: the operator is not a string", show(q))
	}
	args := l[1:]
	switch op {
	case "and", "or":
		if len(args) == 0 {
			return nil, errorf("%q needs at least one term", op)
		}
		var fs []filter
		for _, a := range args {
			f, err := c.filter(entity, a, depth)
			if err != nil {
				return nil, err
			}
			fs = append(fs, f)
		}
		if op == "and" {
			return func(r Row) bool {
				for _, f := range fs {
					if !f(r) {
						return false
					}
				}
				return true
			}, nil
		}
		return func(r Row) bool {
			for _, f := range fs {
				if f(r) {
					return true
				}
			}
			return false
		}, nil
	case "not":
		if len(args) != 1 {
			return nil, errorf(`"not" takes one term, got %d`, len(args))
		}
		f, err := c.filter(entity, args[0], depth)
		if err != nil {
			return nil, err
		}
		return func(r Row) bool { return !f(r) }, nil
	case "=", "~", "<", "<=", ">", ">=":
		if len(args) != 2 {
			return nil, errorf("%q takes a field and a value, got %d terms", op, len(args))
		}
		if args[0] == "node_state" && op == "=" {
			return c.nodeState(args[1])
		}
		get, err := c.field(entity, args[0])
		if err != nil {
			return nil, err
		}
		return comparison(op, get, args[1])
	case "null?":
		if len(args) != 2 {
			return nil, errorf(`"null?" takes a field and true or false`)
		}
		get, err := c.field(entity, args[0])
		if err != nil {
			return nil, err
		}
		want, ok := args[1].(bool)
		if !ok {
			return nil, errorf(`"null?" takes true or false, got %s`, show(args[1]))
		}
		return func(r Row) bool { v, _ := get(r); return (v == nil) == want }, nil
	case "in":
		return c.in(entity, args, depth)
	case "subquery":
		if len(args) < 1 || len(args) > 2 {
			return nil, errorf(`"subquery" takes an entity and a query`)
		}
		sub, ok := args[0].(string)
		if !ok {
			return nil, errorf("subquery entity %s is not a string", show(args[0]))
		}
		var sq any
		if len(args) == 2 {
			sq = args[1]
		}
		return c.implicit(entity, strings.ReplaceAll(sub, "-", "_"), sq, depth)
	case "extract":
		return nil, errorf(`"extract" is a projection: it belongs at the top of a query or inside "in"`)
	}
	return nil, errorf("unknown query operator %q (supported: =, ~, <, <=, >, >=, null?, in, and, or, not, subquery, extract)", op)
}

// activeRow says whether a row is of an active node; rows of no node (an
// environment, a fact name) are.
func (c *compiler) activeRow(r Row) bool {
	cn, ok := r["certname"].(string)
	return !ok || c.d.active[cn]
}

// nodeState is ["=", "node_state", "active"|"inactive"|"any"], on any entity.
func (c *compiler) nodeState(v any) (filter, error) {
	switch v {
	case "active":
		return c.activeRow, nil
	case "inactive":
		return func(r Row) bool { return !c.activeRow(r) }, nil
	case "any":
		return func(Row) bool { return true }, nil
	}
	return nil, errorf(`node_state is "active", "inactive" or "any", got %s`, show(v))
}

// getter reads a field of a row; ok is false when the row has no such value (a
// parameter or fact it does not have).
type getter func(Row) (any, bool)

func (c *compiler) field(entity string, f any) (getter, error) {
	switch f := f.(type) {
	case string:
		if f == "tag" && entity == "resources" {
			return func(r Row) (any, bool) { v, ok := r["tags"]; return v, ok }, nil
		}
		if fields, ok := schema[entity]; ok && fields[f] {
			return func(r Row) (any, bool) { v, ok := r[f]; return v, ok }, nil
		}
		if head, rest, dotted := strings.Cut(f, "."); dotted && dottable[entity+"."+head] {
			path := strings.Split(rest, ".")
			return func(r Row) (any, bool) { return dig(r[head], path) }, nil
		}
		return nil, errorf("%q is not a queryable field of %s (known: %s)", f, entity, strings.Join(sortedKeys(schema[entity]), ", "))
	case []any:
		if len(f) == 2 {
			name, ok := f[1].(string)
			switch {
			case ok && f[0] == "parameter" && entity == "resources":
				return func(r Row) (any, bool) { return dig(r["parameters"], []string{name}) }, nil
			case ok && f[0] == "fact" && entity == "nodes":
				if err := c.loadFacts(); err != nil {
					return nil, err
				}
				return func(r Row) (any, bool) {
					cn, _ := r["certname"].(string)
					v, ok := c.facts[cn][name]
					return v, ok
				}, nil
			}
		}
	}
	return nil, errorf("%s is not a field of %s", show(f), entity)
}

func (c *compiler) loadFacts() error {
	if c.facts != nil {
		return nil
	}
	fs, vs, err := c.d.factValues()
	if err != nil {
		return err
	}
	c.facts = map[string]map[string]any{}
	for i, f := range fs {
		c.facts[f.Certname] = vs[i]
	}
	return nil
}

func dig(v any, path []string) (any, bool) {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// comparison compares a field with a literal; a field that holds an array (tags)
// answers when one of its elements does.
func comparison(op string, get getter, lit any) (filter, error) {
	var test func(v any) bool
	switch op {
	case "=":
		test = func(v any) bool { return equal(v, lit) }
	case "~":
		s, ok := lit.(string)
		if !ok {
			return nil, errorf(`"~" needs a regular expression string, got %s`, show(lit))
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, errorf(`"~": %v`, err)
		}
		test = func(v any) bool { s, ok := v.(string); return ok && re.MatchString(s) }
	default:
		if _, isNum := number(lit); !isNum {
			if _, isTime := instant(lit); !isTime {
				return nil, errorf("%q needs a number or a timestamp, got %s", op, show(lit))
			}
		}
		test = func(v any) bool {
			c, ok := ordered(v, lit)
			if !ok {
				return false
			}
			switch op {
			case "<":
				return c < 0
			case "<=":
				return c <= 0
			case ">":
				return c > 0
			}
			return c >= 0
		}
	}
	return func(r Row) bool {
		v, ok := get(r)
		if !ok {
			return false
		}
		if list, isList := v.([]any); isList && op != "<" && op != ">" && op != "<=" && op != ">=" {
			if _, litList := lit.([]any); !litList {
				for _, x := range list {
					if test(x) {
						return true
					}
				}
				return false
			}
		}
		return test(v)
	}, nil
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}

// timeLayouts are the forms of timestamps clients send: PuppetDB's own, RFC 3339
// with any offset, and the naive forms Puppetboard and Python's str(datetime) send
// (read as UTC).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02"}

func instant(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok || len(s) < 10 || s[4] != '-' {
		return time.Time{}, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// ordered compares a value with a literal as numbers or as instants.
func ordered(v, lit any) (int, bool) {
	if a, ok := number(v); ok {
		if b, ok := number(lit); ok {
			return cmpFloat(a, b), true
		}
		return 0, false
	}
	if a, ok := instant(v); ok {
		if b, ok := instant(lit); ok {
			return a.Compare(b), true
		}
	}
	return 0, false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// equal compares JSON values: numbers by value, timestamps as instants, the rest
// as their JSON.
func equal(a, b any) bool {
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x == y
	}
	if sa, ok := a.(string); ok {
		sb, ok := b.(string)
		if !ok {
			return false
		}
		if sa == sb {
			return true
		}
		ta, okA := instant(sa)
		tb, okB := instant(sb)
		return okA && okB && ta.Equal(tb)
	}
	return show(a) == show(b)
}

// compare orders any two values for order_by: nil last, then numbers, strings,
// booleans, and the rest by JSON.
func compare(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			return cmpFloat(x, y)
		}
	}
	if x, ok := a.(string); ok {
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	}
	if x, ok := a.(bool); ok {
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			}
			return 1
		}
	}
	return strings.Compare(show(a), show(b))
}
