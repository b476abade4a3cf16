package pdbquery

import (
	"strings"
)

// extract is a projection: ["extract", FIELDS, QUERY?, ["group_by", F...]?].
type extract struct {
	columns []column
	query   any
	groupBy []string
}

// column is a field, or a function of one (["function", "count", F?]).
type column struct {
	field string // "" for count()
	fn    string // "" for a plain field
}

func (c column) name() string {
	if c.fn != "" {
		return c.fn
	}
	return c.field
}

func parseExtract(l []any) (*extract, error) {
	if len(l) < 2 || len(l) > 4 {
		return nil, errorf(`"extract" takes fields, a query and a group_by, got %s`, show(l))
	}
	x := &extract{}
	var cols []any
	switch f := l[1].(type) {
	case string:
		cols = []any{f}
	case []any:
		cols = f
		if len(f) > 0 && f[0] == "function" {
			cols = []any{f}
		}
	default:
		return nil, errorf(`"extract" fields %s: want a field or a list of fields`, show(l[1]))
	}
	for _, c := range cols {
		col, err := parseColumn(c)
		if err != nil {
			return nil, err
		}
		x.columns = append(x.columns, col)
	}
	for _, rest := range l[2:] {
		if g, ok := rest.([]any); ok && len(g) > 0 && g[0] == "group_by" {
			for _, f := range g[1:] {
				s, ok := f.(string)
				if !ok {
					return nil, errorf("group_by field %s is not a string", show(f))
				}
				x.groupBy = append(x.groupBy, s)
			}
			continue
		}
		x.query = rest
	}
	return x, nil
}

func parseColumn(c any) (column, error) {
	switch c := c.(type) {
	case string:
		return column{field: c}, nil
	case []any:
		if len(c) >= 2 && c[0] == "function" {
			fn, _ := c[1].(string)
			switch fn {
			case "count", "avg", "sum", "min", "max":
			default:
				return column{}, errorf("function %s is not supported (count, avg, sum, min, max)", show(c[1]))
			}
			col := column{fn: fn}
			if len(c) == 3 {
				f, ok := c[2].(string)
				if !ok {
					return column{}, errorf("function %s: the field %s is not a string", fn, show(c[2]))
				}
				col.field = f
			} else if len(c) != 2 || fn != "count" {
				return column{}, errorf("function %s takes one field", fn)
			}
			return col, nil
		}
	}
	return column{}, errorf("extract field %s: want a field or [\"function\", NAME, FIELD?]", show(c))
}

func (x *extract) aggregates() bool {
	for _, c := range x.columns {
		if c.fn != "" {
			return true
		}
	}
	return false
}

// project turns rows into the extract's columns: fields as they are (dotted ones
// reaching inside, named as written), or functions of each group.
func (x *extract) project(c *compiler, entity string, rows []Row) ([]Row, error) {
	aggregate := false
	gets := map[string]getter{}
	for _, col := range append(x.columns, groupColumns(x.groupBy)...) {
		if col.fn != "" {
			aggregate = true
			continue
		}
		g, err := c.field(entity, col.field)
		if err != nil {
			return nil, errorf("extract: %v", err)
		}
		gets[col.field] = g
	}
	value := func(r Row, field string) any { v, _ := gets[field](r); return v }
	if !aggregate {
		if len(x.groupBy) > 0 {
			return nil, errorf("group_by needs a function in the extract")
		}
		out := make([]Row, len(rows))
		for i, r := range rows {
			p := make(Row, len(x.columns))
			for _, col := range x.columns {
				p[col.field] = value(r, col.field)
			}
			out[i] = p
		}
		return out, nil
	}
	for _, col := range x.columns {
		if col.fn == "" && !contains(x.groupBy, col.field) {
			return nil, errorf("extract: %q must be in the group_by to go with a function", col.field)
		}
	}
	var keys []string
	groups := map[string][]Row{}
	for _, r := range rows {
		k := make([]any, len(x.groupBy))
		for i, g := range x.groupBy {
			k[i] = value(r, g)
		}
		key := show(k)
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], r)
	}
	if len(x.groupBy) == 0 && len(keys) == 0 {
		keys, groups["[]"] = []string{"[]"}, nil // count() of nothing is 0
	}
	out := make([]Row, 0, len(keys))
	for _, k := range keys {
		g := groups[k]
		p := Row{}
		for _, col := range x.columns {
			if col.fn == "" {
				p[col.field] = value(g[0], col.field)
				continue
			}
			p[col.name()] = aggregateOf(col, g)
		}
		out = append(out, p)
	}
	return out, nil
}

func groupColumns(fields []string) []column {
	out := make([]column, len(fields))
	for i, f := range fields {
		out[i] = column{field: f}
	}
	return out
}

func aggregateOf(c column, rows []Row) any {
	if c.fn == "count" {
		n := 0
		for _, r := range rows {
			if c.field == "" || r[c.field] != nil {
				n++
			}
		}
		return n
	}
	var vals []float64
	var best any
	for _, r := range rows {
		v := r[c.field]
		if v == nil {
			continue
		}
		if f, ok := number(v); ok {
			vals = append(vals, f)
		}
		if best == nil || (c.fn == "min" && compare(v, best) < 0) || (c.fn == "max" && compare(v, best) > 0) {
			best = v
		}
	}
	switch c.fn {
	case "min", "max":
		return best
	}
	if len(vals) == 0 {
		return nil
	}
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	if c.fn == "avg" {
		return sum / float64(len(vals))
	}
	return sum
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// in is ["in", FIELD|[FIELDS], ["array", [V...]] | ["extract", FIELDS, ["select_E", Q]] | ["from", E, ["extract", FIELDS, Q]]].
func (c *compiler) in(entity string, args []any, depth int) (filter, error) {
	if len(args) != 2 {
		return nil, errorf(`"in" takes fields and a subquery or an array, got %d terms`, len(args))
	}
	var names []any
	switch f := args[0].(type) {
	case string:
		names = []any{f}
	case []any:
		names = f
	default:
		return nil, errorf(`"in" fields %s: want a field or a list of fields`, show(args[0]))
	}
	var gets []getter
	for _, n := range names {
		g, err := c.field(entity, n)
		if err != nil {
			return nil, err
		}
		gets = append(gets, g)
	}
	sub, ok := args[1].([]any)
	if !ok || len(sub) < 2 {
		return nil, errorf(`"in" takes ["array", [...]], ["extract", ...] or ["from", ...], got %s`, show(args[1]))
	}
	if sub[0] == "array" {
		vals, ok := sub[1].([]any)
		if !ok || len(gets) != 1 {
			return nil, errorf(`["in", FIELD, ["array", [V...]]] takes one field and a list`)
		}
		return func(r Row) bool {
			v, ok := gets[0](r)
			if !ok {
				return false
			}
			for _, x := range vals {
				if equal(v, x) {
					return true
				}
			}
			return false
		}, nil
	}
	var subEntity string
	var subQuery []any
	switch sub[0] {
	case "from":
		e, _ := sub[1].(string)
		if len(sub) != 3 || e == "" {
			return nil, errorf(`"in" with "from" takes ["from", ENTITY, ["extract", FIELDS, QUERY]]`)
		}
		subEntity = strings.ReplaceAll(e, "-", "_")
		subQuery, _ = sub[2].([]any)
	case "extract":
		if len(sub) < 3 {
			return nil, errorf(`"in" with "extract" takes ["extract", FIELDS, ["select_ENTITY", QUERY]]`)
		}
		sel, _ := sub[2].([]any)
		op, _ := "", false
		if len(sel) > 0 {
			op, _ = sel[0].(string)
		}
		if !strings.HasPrefix(op, "select_") {
			return nil, errorf(`"in" with "extract" takes ["extract", FIELDS, ["select_ENTITY", QUERY]], got %s`, show(sub[2]))
		}
		subEntity = strings.TrimPrefix(op, "select_")
		var q any
		if len(sel) > 1 {
			q = sel[1]
		}
		subQuery = []any{"extract", sub[1], q}
		if q == nil {
			subQuery = subQuery[:2]
		}
	default:
		return nil, errorf(`"in" takes ["array", [...]], ["extract", ...] or ["from", ...], got %s`, show(args[1]))
	}
	if len(subQuery) == 0 || subQuery[0] != "extract" {
		return nil, errorf(`the subquery of "in" must extract fields: ["extract", FIELDS, QUERY]`)
	}
	rows, err := c.run(subEntity, subQuery, depth+1)
	if err != nil {
		return nil, err
	}
	x, _ := parseExtract(subQuery)
	if len(x.columns) != len(gets) {
		return nil, errorf(`"in" compares %d fields with a subquery of %d`, len(gets), len(x.columns))
	}
	set := map[string]bool{}
	for _, r := range rows {
		t := make([]any, len(x.columns))
		for i, col := range x.columns {
			t[i] = r[col.name()]
		}
		set[show(t)] = true
	}
	return func(r Row) bool {
		t := make([]any, len(gets))
		for i, g := range gets {
			v, ok := g(r)
			if !ok {
				return false
			}
			t[i] = v
		}
		return set[show(t)]
	}, nil
}

// implicit is ["subquery", ENTITY, QUERY]: the rows related to a row of ENTITY
// that answers QUERY, related through the node (certname) or the environment.
func (c *compiler) implicit(entity, sub string, q any, depth int) (filter, error) {
	outer, inner := "certname", "certname"
	switch {
	case entity == "environments":
		outer, inner = "name", "environment"
	case sub == "environments":
		outer, inner = "environment", "name"
	case entity == "reports" && sub == "events":
		outer, inner = "hash", "report"
	case entity == "events" && sub == "reports":
		outer, inner = "report", "hash"
	}
	if !schema[entity][outer] || !schema[sub][inner] {
		return nil, errorf("no implicit relation from %s to %s", entity, sub)
	}
	ex := []any{"extract", []any{inner}}
	if q != nil {
		ex = append(ex, q)
	}
	return c.in(entity, []any{outer, []any{"from", sub, ex}}, depth)
}
