package pdbquery

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
)

// Error is a query this server does not answer: the client's error (HTTP 400).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// Order is one key of order_by.
type Order struct {
	Field string
	Desc  bool
}

// Paging is what the URL of an entity endpoint adds to its query.
type Paging struct {
	OrderBy       []Order
	Limit, Offset int // 0: none
}

// Result is an answer: its rows and, before limit and offset, how many there were
// (X-Records).
type Result struct {
	Rows  []Row
	Total int
}

// Engine answers queries over a store. Each query reads what it needs into
// memory, so at most Concurrency queries (default: two per CPU) are answered at
// once; the others wait their turn, or their request's end.
type Engine struct {
	Store       exported.Store
	Concurrency int

	once  sync.Once
	slots chan struct{}
}

// acquire waits for a slot; release gives it back.
func (e *Engine) acquire(ctx context.Context) (release func(), err error) {
	e.once.Do(func() {
		n := e.Concurrency
		if n <= 0 {
			n = 2 * runtime.GOMAXPROCS(0)
		}
		e.slots = make(chan struct{}, n)
	})
	select {
	case e.slots <- struct{}{}:
		return func() { <-e.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Query answers ast (nil: every row) on entity with paging; with entity "" the
// AST is a root query: ["from", ENTITY, QUERY?, ["order_by",..]?, ["limit",n]?,
// ["offset",n]?].
func (e *Engine) Query(ctx context.Context, entity string, ast json.RawMessage, p Paging) (*Result, error) {
	var q any
	if len(strings.TrimSpace(string(ast))) > 0 {
		if err := decode(ast, &q); err != nil {
			return nil, errorf("query is not JSON: %v", err)
		}
	}
	if _, pql := q.(string); pql {
		return nil, errorf("PQL queries are answered by /pdb/query/v4 only; send the AST form here")
	}
	root := entity == ""
	if root {
		var err error
		if entity, q, p, err = fromQuery(q); err != nil {
			return nil, err
		}
	}
	entity = strings.ReplaceAll(entity, "-", "_")
	restrict := restricted[entity] || root && !unrestricted[entity]
	if _, ok := parts[entity]; !ok {
		return nil, errorf("unknown entity %q", entity)
	}
	c, release, err := e.compiler(ctx, entity, q)
	if err != nil {
		return nil, err
	}
	defer release()
	c.restrict = restrict
	rows, x, err := c.filtered(entity, q, 0)
	if err != nil {
		return nil, err
	}
	// PuppetDB orders before it projects a plain extract: the order may be by a
	// field left out of it. Aggregates are ordered by their columns.
	if x != nil && !x.aggregates() && ordersBy(entity, p.OrderBy) {
		if err := order(rows, p.OrderBy); err != nil {
			return nil, err
		}
		p.OrderBy = nil
	}
	if x != nil {
		if rows, err = x.project(c, entity, rows); err != nil {
			return nil, err
		}
	}
	return page(rows, p)
}

// ordersBy says whether every key orders by a field of the entity.
func ordersBy(entity string, keys []Order) bool {
	for _, k := range keys {
		if !schema[entity][k.Field] {
			return false
		}
	}
	return len(keys) > 0
}

// page orders rows, and cuts them to the page that offset and limit ask for.
func page(rows []Row, p Paging) (*Result, error) {
	if err := order(rows, p.OrderBy); err != nil {
		return nil, err
	}
	res := &Result{Total: len(rows)}
	if p.Offset > 0 {
		rows = rows[min(p.Offset, len(rows)):]
	}
	if p.Limit > 0 && p.Limit < len(rows) {
		rows = rows[:p.Limit]
	}
	res.Rows = rows
	if res.Rows == nil {
		res.Rows = []Row{}
	}
	return res, nil
}

// compiler reads what a query of entity and its subqueries need, once a slot is
// free; release gives the slot back.
func (e *Engine) compiler(ctx context.Context, entity string, q any) (*compiler, func(), error) {
	need := parts[entity]
	for _, sub := range entitiesIn(q) {
		p, ok := parts[sub]
		if !ok {
			return nil, nil, errorf("unknown entity %q", sub)
		}
		need |= p
	}
	release, err := e.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	snap, err := e.Store.Snapshot(ctx, need)
	if err != nil {
		release()
		return nil, nil, err
	}
	return &compiler{d: newData(snap)}, release, nil
}

// fromQuery splits a root query.
func fromQuery(q any) (string, any, Paging, error) {
	var p Paging
	list, ok := q.([]any)
	if !ok || len(list) < 2 || list[0] != "from" {
		return "", nil, p, errorf(`a query of /pdb/query/v4 must be ["from", ENTITY, ...] or PQL, got %s`, show(q))
	}
	entity, ok := list[1].(string)
	if !ok {
		return "", nil, p, errorf("the entity of a from must be a string, got %s", show(list[1]))
	}
	var query any
	for _, x := range list[2:] {
		l, _ := x.([]any)
		op := ""
		if len(l) > 0 {
			op, _ = l[0].(string)
		}
		switch op {
		case "order_by":
			if len(l) != 2 {
				return "", nil, p, errorf("order_by takes a list of fields")
			}
			keys, _ := l[1].([]any)
			for _, k := range keys {
				switch k := k.(type) {
				case string:
					p.OrderBy = append(p.OrderBy, Order{Field: k})
				case []any:
					if len(k) != 2 {
						return "", nil, p, errorf("order_by key %s: want FIELD or [FIELD, \"asc\"|\"desc\"]", show(k))
					}
					f, _ := k[0].(string)
					dir, _ := k[1].(string)
					if f == "" || (dir != "asc" && dir != "desc") {
						return "", nil, p, errorf("order_by key %s: want FIELD or [FIELD, \"asc\"|\"desc\"]", show(k))
					}
					p.OrderBy = append(p.OrderBy, Order{Field: f, Desc: dir == "desc"})
				default:
					return "", nil, p, errorf("order_by key %s: want FIELD or [FIELD, \"asc\"|\"desc\"]", show(k))
				}
			}
		case "limit", "offset":
			n, err := count(l)
			if err != nil {
				return "", nil, p, err
			}
			if op == "limit" {
				p.Limit = n
			} else {
				p.Offset = n
			}
		default:
			if query != nil {
				return "", nil, p, errorf("a from takes one query, got a second: %s", show(x))
			}
			query = x
		}
	}
	return entity, query, p, nil
}

func count(l []any) (int, error) {
	if len(l) == 2 {
		if n, ok := l[1].(json.Number); ok {
			if i, err := n.Int64(); err == nil && i >= 0 {
				return int(i), nil
			}
		}
	}
	return 0, errorf("%s takes a whole number, got %s", l[0], show(l))
}

// entitiesIn lists the entities a query's subqueries read.
func entitiesIn(q any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		l, ok := v.([]any)
		if !ok || len(l) == 0 {
			return
		}
		if op, ok := l[0].(string); ok {
			switch {
			case op == "from" || op == "subquery":
				if len(l) > 1 {
					if e, ok := l[1].(string); ok {
						out = append(out, strings.ReplaceAll(e, "-", "_"))
					}
				}
			case strings.HasPrefix(op, "select_"):
				out = append(out, strings.TrimPrefix(op, "select_"))
			}
		}
		for _, x := range l {
			walk(x)
		}
	}
	walk(q)
	return out
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// order sorts rows by keys, NULLs last as PostgreSQL sorts them.
func order(rows []Row, keys []Order) error {
	if len(keys) == 0 {
		return nil
	}
	for _, k := range keys {
		if len(rows) > 0 {
			if _, ok := rows[0][k.Field]; !ok {
				return errorf("order_by: unknown field %q", k.Field)
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, k := range keys {
			c := compare(rows[i][k.Field], rows[j][k.Field])
			if c == 0 {
				continue
			}
			if k.Desc {
				return c > 0
			}
			return c < 0
		}
		return false
	})
	return nil
}
