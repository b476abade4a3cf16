package pql

import (
	"slices"
	"strconv"
	"strings"
)

// The parser follows pql-grammar.ebnf of PuppetDB 7.12.1 rule by rule; the
// comment of each method quotes the rule it implements ([x] is optional,
// {x} repeats, <ws> is #'\s+').
//
// Instaparse explores every alternative of a rule; a recursive-descent
// parser commits to one. That is equivalent here because the alternatives
// are told apart by their first characters and what may follow an
// expression never starts like its continuation, except for where a field
// ends: a dotted field such as facts.match(a b) can end after several of
// its segments. Fields therefore yield all their possible ends, longest
// first, and the caller takes the first one its continuation accepts. That
// choice is a decision: if the whole query then fails, parseQuery parses
// it again taking the next alternative of the last decision that has one
// (a depth-first search, as Instaparse would find every parse). Ordinary
// queries have no such decisions and are parsed once.
//
// Each method returns the AST of what it matched, the offset after it and
// whether it matched. Failing terminals are recorded with expect, and the
// furthest failure becomes the syntax error, as in Instaparse.

// entities are the grammar's <entity> terminals.
var entities = []string{
	"facts", "reports", "catalogs", "packages", "package_inventory",
	"resources", "nodes", "environments", "factsets", "fact_paths",
	"fact_contents", "inventory", "edges", "events",
}

// dottedPrefixes are the <dottedfield> terminals, the only fields that may
// be followed by a path.
var dottedPrefixes = []string{"facts", "trusted", "parameters"}

// functionNames are the <functionname> terminals.
var functionNames = []string{"count", "avg", "sum", "min", "max", "to_string"}

// parser is the state of one Parse call.
type parser struct {
	src string

	failPos  int      // furthest offset at which a terminal failed
	expected []string // the terminals that failed there

	depth    int    // current nesting, bounded by maxDepth
	steps    int    // work done over all attempts, bounded by maxSteps
	maxSteps int    // the budget for steps
	fatal    *Error // depth or work exceeded: stop parsing

	forced    []int      // per decision, the first alternative to try
	decisions []decision // the decisions of this attempt

	parenEnd, quoteEnd []int // see buildSegmentTables
}

// decision records which of n alternatives (field ends) an attempt took;
// taken == n when none fitted.
type decision struct{ taken, n int }

func newParser(src string) *parser {
	// Parsing is linear for any sensible query; the budget only stops
	// pathological backtracking over field ends.
	return &parser{src: src, failPos: -1, maxSteps: 100000 + 100*len(src)}
}

// parseQuery parses the whole query, trying other field ends while the
// attempts fail (see the comment at the top). The reported syntax error is
// the furthest one of all attempts.
func (p *parser) parseQuery() (any, *Error) {
	var best *Error
	for {
		ast, err := p.attempt()
		if err == nil {
			return ast, nil
		}
		switch {
		case p.fatal == nil:
			best = furthest(best, err)
			if !p.retry() {
				return nil, best
			}
		case p.fatal.Msg != errTooComplex || best == nil:
			return nil, p.fatal // nested too deeply, or a hopeless query
		default:
			return nil, best // out of budget for more attempts
		}
	}
}

// furthest returns the error further into the query, merging what both
// expected when they are at the same place.
func furthest(a, b *Error) *Error {
	switch {
	case a == nil || b.Offset > a.Offset:
		return b
	case b.Offset == a.Offset:
		for _, e := range b.Expected {
			if !slices.Contains(a.Expected, e) {
				a.Expected = append(a.Expected, e)
			}
		}
	}
	return a
}

// retry prepares the next attempt: the last decision that has an untried
// alternative takes it, the ones before it are kept and the ones after it
// are made afresh. It reports false when every alternative was tried.
func (p *parser) retry() bool {
	k := len(p.decisions) - 1
	for k >= 0 && p.decisions[k].taken+1 >= p.decisions[k].n {
		k--
	}
	if k < 0 {
		return false
	}
	p.forced = p.forced[:0]
	for _, d := range p.decisions[:k] {
		p.forced = append(p.forced, d.taken)
	}
	p.forced = append(p.forced, p.decisions[k].taken+1)
	p.decisions = p.decisions[:0]
	p.failPos, p.expected, p.depth = -1, nil, 0
	return true
}

// choose opens a decision among n alternatives and returns its index and
// the first alternative this attempt may take.
func (p *parser) choose(n int) (k, first int) {
	k = len(p.decisions)
	if k < len(p.forced) {
		first = p.forced[k]
	}
	p.decisions = append(p.decisions, decision{taken: n, n: n})
	return k, first
}

// attempt is <query> = [<ws>], from, [<ws>]; all input must be used.
func (p *parser) attempt() (any, *Error) {
	ast, end, ok := p.from(p.spaces(0))
	if ok {
		if p.spaces(end) == len(p.src) {
			return ast, nil
		}
		// Like Instaparse, blame the end of the query, where only
		// whitespace up to the end of input could have followed.
		p.expect(end, "end of input")
	}
	if p.fatal != nil {
		return nil, p.fatal
	}
	return nil, p.syntaxError()
}

// syntaxError reports the furthest failure.
func (p *parser) syntaxError() *Error {
	pos := max(p.failPos, 0)
	e := newError(p.src, pos)
	e.Expected = p.expected
	e.Found = snippet(p.src[pos:])
	return e
}

// snippet is the start of s, up to the end of its line or 20 characters.
func snippet(s string) string {
	n := 0
	for i, r := range s {
		switch {
		case r == '\n' || r == '\r':
			return s[:i]
		case n == 20:
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// expect records that what was expected at pos.
func (p *parser) expect(pos int, what string) {
	switch {
	case pos > p.failPos:
		p.failPos = pos
		p.expected = append(p.expected[:0:0], what)
	case pos == p.failPos && !slices.Contains(p.expected, what):
		p.expected = append(p.expected, what)
	}
}

// lit matches the string terminal s at pos.
func (p *parser) lit(pos int, s string) (int, bool) {
	if strings.HasPrefix(p.src[pos:], s) {
		return pos + len(s), true
	}
	p.expect(pos, strconv.Quote(s))
	return pos, false
}

// mustSpaces matches <ws>, which is not optional.
func (p *parser) mustSpaces(pos int) (int, bool) {
	end := p.spaces(pos)
	if end == pos {
		p.expect(pos, "whitespace")
		return pos, false
	}
	return end, true
}

// errTooComplex is the message of the error for exceeding maxSteps.
const errTooComplex = "query too complex to parse"

// tick counts work and reports whether parsing may go on.
func (p *parser) tick(pos int) bool {
	p.steps++
	if p.steps > p.maxSteps && p.fatal == nil {
		p.fatal = newError(p.src, pos)
		p.fatal.Msg = errTooComplex
	}
	return p.fatal == nil
}

// enter counts one more level of nesting; leave undoes it.
func (p *parser) enter(pos int) bool {
	p.depth++
	if p.depth > maxDepth && p.fatal == nil {
		p.fatal = newError(p.src, pos)
		p.fatal.Msg = "query nested more than " + strconv.Itoa(maxDepth) + " levels deep"
	}
	return p.tick(pos)
}

func (p *parser) leave() { p.depth-- }

// from is from = entity, [[<ws>], extract], [<ws>], where.
func (p *parser) from(pos int) (any, int, bool) {
	defer p.leave()
	if !p.enter(pos) {
		return nil, pos, false
	}
	entity, pos, ok := p.entity(pos)
	if !ok {
		return nil, pos, false
	}
	var clauses []any
	if ext, end, ok := p.extract(p.spaces(pos)); ok {
		clauses = append(clauses, ext)
		pos = end
	}
	where, end, ok := p.where(p.spaces(pos))
	if !ok {
		return nil, pos, false
	}
	return fromNode(entity, append(clauses, where...)), end, true
}

// entity matches one of the entity terminals. Only facts is a prefix of
// another (factsets), and the shorter never fits where the longer does.
func (p *parser) entity(pos int) (string, int, bool) {
	best := ""
	for _, e := range entities {
		if len(e) > len(best) && strings.HasPrefix(p.src[pos:], e) {
			best = e
		}
	}
	if best == "" {
		p.expect(pos, "entity")
		return "", pos, false
	}
	return best, pos + len(best), true
}

// extract is extract = '[', [<ws>], [fieldlist], [<ws>], ']'.
func (p *parser) extract(pos int) (any, int, bool) {
	pos, ok := p.lit(pos, "[")
	if !ok {
		return nil, pos, false
	}
	pos = p.spaces(pos)
	fields := []any{}
	if list, end, ok := p.fieldList(pos, ']'); ok {
		fields, pos = list, end
	}
	end, ok := p.lit(p.spaces(pos), "]")
	if !ok {
		return nil, pos, false
	}
	return []any{"extract", fields}, end, true
}

// where is '{', [<ws>], [expression], [<ws>],
// [groupbyclause | {pagingclause, [<ws>]}], {<ws>}, '}'. It returns the
// clauses in order.
func (p *parser) where(pos int) ([]any, int, bool) {
	if !p.tick(pos) {
		return nil, pos, false
	}
	pos, ok := p.lit(pos, "{")
	if !ok {
		return nil, pos, false
	}
	pos = p.spaces(pos)
	var clauses []any
	if e, end, ok := p.expression(pos); ok {
		clauses = append(clauses, e)
		pos = p.spaces(end)
	}
	if g, end, ok := p.groupBy(pos); ok {
		clauses = append(clauses, g)
		pos = end
	} else {
		for {
			c, end, ok := p.paging(pos)
			if !ok {
				break
			}
			clauses = append(clauses, c)
			pos = p.spaces(end)
		}
	}
	end, ok := p.lit(p.spaces(pos), "}")
	if !ok {
		return nil, pos, false
	}
	return clauses, end, true
}

// groupBy is groupby = 'group by', <ws>, fieldlist → ["group_by", …].
func (p *parser) groupBy(pos int) (any, int, bool) {
	pos, ok := p.lit(pos, "group by")
	if !ok {
		return nil, pos, false
	}
	if pos, ok = p.mustSpaces(pos); !ok {
		return nil, pos, false
	}
	fields, end, ok := p.fieldList(pos, '}')
	if !ok {
		return nil, pos, false
	}
	return append([]any{"group_by"}, fields...), end, true
}

// paging is pagingclause = limit | offset | orderby.
func (p *parser) paging(pos int) (any, int, bool) {
	if c, end, ok := p.limitOrOffset(pos, "limit"); ok {
		return c, end, true
	}
	if c, end, ok := p.limitOrOffset(pos, "offset"); ok {
		return c, end, true
	}
	return p.orderBy(pos)
}

// limitOrOffset is limit = 'limit', <ws>, integer (and the same for offset).
func (p *parser) limitOrOffset(pos int, keyword string) (any, int, bool) {
	pos, ok := p.lit(pos, keyword)
	if !ok {
		return nil, pos, false
	}
	if pos, ok = p.mustSpaces(pos); !ok {
		return nil, pos, false
	}
	n, end, ok := p.number(pos, false)
	if !ok {
		return nil, pos, false
	}
	return []any{keyword, n}, end, true
}

// orderBy is orderby = 'order by', <ws>, orderparam, {',', [<ws>], orderparam}
// → ["order_by", [param, …]].
func (p *parser) orderBy(pos int) (any, int, bool) {
	pos, ok := p.lit(pos, "order by")
	if !ok {
		return nil, pos, false
	}
	if pos, ok = p.mustSpaces(pos); !ok {
		return nil, pos, false
	}
	param, pos, ok := p.orderParam(pos)
	if !ok {
		return nil, pos, false
	}
	params := []any{param}
	for {
		q, ok := p.lit(pos, ",")
		if !ok {
			break
		}
		param, end, ok := p.orderParam(p.spaces(q))
		if !ok {
			break
		}
		params = append(params, param)
		pos = end
	}
	return []any{"order_by", params}, pos, true
}

// orderParam is orderparam = !('asc' | 'desc') field, [<ws> direction],
// [<ws>] → field or [field, direction]. The lookahead is on the text, so
// a field such as "description" cannot be ordered by, as in PuppetDB.
func (p *parser) orderParam(pos int) (any, int, bool) {
	if strings.HasPrefix(p.src[pos:], "asc") || strings.HasPrefix(p.src[pos:], "desc") {
		p.expect(pos, `NOT "asc" | "desc"`)
		return nil, pos, false
	}
	f, end, ok := p.field(pos, p.orderFieldFollows)
	if !ok {
		return nil, pos, false
	}
	param := any(f)
	if q := p.spaces(end); q > end {
		for _, dir := range []string{"asc", "desc"} {
			if r, ok := p.lit(q, dir); ok {
				param, end = []any{f, dir}, r
				break
			}
		}
	}
	return param, p.spaces(end), true
}

// orderFieldFollows reports whether what follows end may follow the field
// of an orderparam.
func (p *parser) orderFieldFollows(end int) bool {
	q := p.spaces(end)
	rest := p.src[q:]
	if q > end && (strings.HasPrefix(rest, "asc") || strings.HasPrefix(rest, "desc")) {
		return true
	}
	for _, s := range []string{",", "}", "limit", "offset", "order by"} {
		if strings.HasPrefix(rest, s) {
			return true
		}
	}
	return false
}

// expression is expr-or = expr-and {<ws>, 'or', <ws>, expr-or}.
func (p *parser) expression(pos int) (any, int, bool) {
	return p.joined(pos, "or", p.exprAnd)
}

// exprAnd is expr-and = expr-not {<ws>, 'and', <ws>, expr-and}.
func (p *parser) exprAnd(pos int) (any, int, bool) {
	return p.joined(pos, "and", p.exprNot)
}

// joined parses item {<ws>, op, <ws>, item} and shapes the items like
// PuppetDB (see chain). Taking as many items as possible is safe: nothing
// that may follow an expression starts with whitespace and op and
// whitespace.
func (p *parser) joined(pos int, op string, item func(int) (any, int, bool)) (any, int, bool) {
	first, end, ok := item(pos)
	if !ok {
		return nil, pos, false
	}
	items := []any{first}
	for {
		q, ok := p.mustSpaces(end)
		if !ok {
			break
		}
		if q, ok = p.lit(q, op); !ok {
			break
		}
		if q, ok = p.mustSpaces(q); !ok {
			break
		}
		next, e, ok := item(q)
		if !ok {
			break
		}
		items = append(items, next)
		end = e
	}
	return chain(op, items), end, true
}

// exprNot is expr-not = ('!', [<ws>], expr-not) | expr-rest.
func (p *parser) exprNot(pos int) (any, int, bool) {
	defer p.leave()
	if !p.enter(pos) {
		return nil, pos, false
	}
	if q, ok := p.lit(pos, "!"); ok {
		e, end, ok := p.exprNot(p.spaces(q))
		if !ok {
			return nil, pos, false
		}
		return []any{"not", e}, end, true
	}
	return p.exprRest(pos)
}

// exprRest is expr-rest = ('(', [<ws>], expression, [<ws>], ')')
// | condexpression | condexpnull | subquery.
func (p *parser) exprRest(pos int) (any, int, bool) {
	if q, ok := p.lit(pos, "("); ok {
		e, end, ok := p.expression(p.spaces(q))
		if !ok {
			return nil, pos, false
		}
		if end, ok = p.lit(p.spaces(end), ")"); !ok {
			return nil, pos, false
		}
		return e, end, true
	}
	if s, end, ok := p.subquery(pos); ok {
		return s, end, true
	}
	return p.condition(pos)
}

// subquery is subquery = entity, [<ws>], where → ["subquery", entity,
// clause]. PuppetDB's transform takes at most one clause; with more it
// fails, and so does Parse.
func (p *parser) subquery(pos int) (any, int, bool) {
	entity, q, ok := p.entity(pos)
	if !ok {
		return nil, pos, false
	}
	clauses, end, ok := p.where(p.spaces(q))
	if !ok {
		return nil, pos, false
	}
	switch len(clauses) {
	case 0:
		return []any{"subquery", entity}, end, true
	case 1:
		return []any{"subquery", entity, clauses[0]}, end, true
	}
	return &badValue{pos, "implicit subquery " + entity + " { … } may have only one clause (a filter, without group by or paging)"}, end, true
}

// condition is condexpression | condexpnull: a field (or a bracketed list
// of fields, for in) followed by an operator and a value.
func (p *parser) condition(pos int) (any, int, bool) {
	if !p.tick(pos) {
		return nil, pos, false
	}
	if fields, end, ok := p.groupedFieldList(pos); ok {
		q, ok := p.lit(p.spaces(end), "in")
		if !ok {
			return nil, pos, false
		}
		v, end, ok := p.valueIn(p.spaces(q))
		if !ok {
			return nil, pos, false
		}
		return []any{"in", fields, v}, end, true
	}
	ends := p.fieldEnds(pos)
	if len(ends) == 0 {
		p.expect(pos, "field")
		return nil, pos, false
	}
	k, first := -1, 0
	if len(ends) > 1 {
		k, first = p.choose(len(ends))
	}
	for i := first; i < len(ends); i++ {
		if c, end, ok := p.conditionRest(p.src[pos:ends[i]], p.spaces(ends[i])); ok {
			if k >= 0 {
				p.decisions[k].taken = i
			}
			return c, end, true
		}
	}
	return nil, pos, false
}

// conditionRest parses what follows the field f of a condition: is null,
// is not null, or an operator and its value.
func (p *parser) conditionRest(f string, pos int) (any, int, bool) {
	if end, ok := p.lit(pos, "is null"); ok {
		return []any{"null?", f, true}, end, true
	}
	if end, ok := p.lit(pos, "is not null"); ok {
		return []any{"null?", f, false}, end, true
	}
	// Longer operators first: "~" then ">" is never a valid start.
	for _, op := range []string{"~>", "~", ">=", "<=", "<", ">", "=", "!=", "!~", "in"} {
		q, ok := p.lit(pos, op)
		if !ok {
			continue
		}
		v, end, ok := p.operand(op, p.spaces(q))
		if !ok {
			continue
		}
		switch op {
		case "!=":
			return []any{"not", []any{"=", f, v}}, end, true
		case "!~":
			return []any{"not", []any{"~", f, v}}, end, true
		}
		return []any{op, f, v}, end, true
	}
	return nil, pos, false
}

// operand parses the value an operator takes: valueregexparray for ~>,
// valueregexp for ~, valueordered for inequalities, valuein for in, and a
// literal for =, != and !~.
func (p *parser) operand(op string, pos int) (any, int, bool) {
	switch op {
	case "~>":
		return p.groupedRegexpList(pos)
	case "~":
		return p.str(pos)
	case ">=", "<=", "<", ">":
		if n, end, ok := p.number(pos, true); ok {
			return n, end, true
		}
		return p.str(pos)
	case "in":
		return p.valueIn(pos)
	}
	return p.literal(pos)
}

// valueIn is valuein = query | groupedliterallist. The query's trailing
// [<ws>] is left alone: "and" and "or" need it.
func (p *parser) valueIn(pos int) (any, int, bool) {
	if l, end, ok := p.groupedLiteralList(pos); ok {
		return l, end, true
	}
	return p.from(p.spaces(pos))
}

// fieldList is fieldlist = (field | function)
// {[<ws>], ',', [<ws>], (field | function)}; closer is what ends the list.
func (p *parser) fieldList(pos int, closer byte) ([]any, int, bool) {
	item, end, ok := p.fieldOrFunction(pos, closer)
	if !ok {
		return nil, pos, false
	}
	items := []any{item}
	for {
		q, ok := p.lit(p.spaces(end), ",")
		if !ok {
			break
		}
		item, e, ok := p.fieldOrFunction(p.spaces(q), closer)
		if !ok {
			break
		}
		items = append(items, item)
		end = e
	}
	return items, end, true
}

// fieldOrFunction is one item of a fieldlist.
func (p *parser) fieldOrFunction(pos int, closer byte) (any, int, bool) {
	if f, end, ok := p.function(pos); ok {
		return f, end, true
	}
	follows := func(end int) bool {
		q := p.spaces(end)
		return q < len(p.src) && (p.src[q] == ',' || p.src[q] == closer)
	}
	return p.field(pos, follows)
}

// groupedFieldList is '[', [<ws>], fieldlist, [<ws>], ']' → [fields…].
func (p *parser) groupedFieldList(pos int) (any, int, bool) {
	pos, ok := p.lit(pos, "[")
	if !ok {
		return nil, pos, false
	}
	fields, end, ok := p.fieldList(p.spaces(pos), ']')
	if !ok {
		return nil, pos, false
	}
	if end, ok = p.lit(p.spaces(end), "]"); !ok {
		return nil, pos, false
	}
	return fields, end, true
}

// function is function = functionname, [<ws>], groupedarglist →
// ["function", name, args…], where groupedarglist = '(', [<ws>],
// [(field | string), [[<ws>], ',', [<ws>], stringlist]], [<ws>], ')'.
func (p *parser) function(pos int) (any, int, bool) {
	name := ""
	for _, n := range functionNames {
		if strings.HasPrefix(p.src[pos:], n) {
			name = n
		}
	}
	if name == "" {
		p.expect(pos, "function")
		return nil, pos, false
	}
	q, ok := p.lit(p.spaces(pos+len(name)), "(")
	if !ok {
		return nil, pos, false
	}
	q = p.spaces(q)
	fn := []any{"function", name}
	if arg, end, ok := p.firstArg(q); ok {
		fn = append(fn, arg)
		q = end
		if r, ok := p.lit(p.spaces(q), ","); ok {
			if strs, end, ok := p.stringList(p.spaces(r)); ok {
				fn = append(fn, strs...)
				q = end
			}
		}
	}
	end, ok := p.lit(p.spaces(q), ")")
	if !ok {
		return nil, pos, false
	}
	return fn, end, true
}

// firstArg is the (field | string) that starts an arglist.
func (p *parser) firstArg(pos int) (any, int, bool) {
	follows := func(end int) bool {
		q := p.spaces(end)
		return q < len(p.src) && (p.src[q] == ',' || p.src[q] == ')')
	}
	if f, end, ok := p.field(pos, follows); ok {
		return f, end, true
	}
	return p.str(pos)
}

// stringList is string {[<ws>], ',', [<ws>], string}.
func (p *parser) stringList(pos int) ([]any, int, bool) {
	s, end, ok := p.str(pos)
	if !ok {
		return nil, pos, false
	}
	strs := []any{s}
	for {
		q, ok := p.lit(p.spaces(end), ",")
		if !ok {
			break
		}
		s, e, ok := p.str(p.spaces(q))
		if !ok {
			break
		}
		strs = append(strs, s)
		end = e
	}
	return strs, end, true
}

// field is field = #'[a-zA-Z0-9_]+\??' | (dottedfield, fieldpath). Of
// its possible ends it takes the longest that follows accepts (and that
// this attempt may take), or else the longest, for the caller to fail on.
func (p *parser) field(pos int, follows func(int) bool) (string, int, bool) {
	ends := p.fieldEnds(pos)
	if len(ends) == 0 {
		p.expect(pos, "field")
		return "", pos, false
	}
	k, first := -1, 0
	if len(ends) > 1 {
		k, first = p.choose(len(ends))
	}
	end := ends[0]
	for i := first; i < len(ends); i++ {
		if follows(ends[i]) {
			end = ends[i]
			if k >= 0 {
				p.decisions[k].taken = i
			}
			break
		}
	}
	// transform-field joins the parts with the dots between them, which
	// gives back the text itself.
	return p.src[pos:end], end, true
}

// fieldEnds returns every offset at which a field starting at pos may end,
// longest first.
func (p *parser) fieldEnds(pos int) []int {
	if !p.tick(pos) {
		return nil
	}
	var ends []int
	if e := p.simpleField(pos); e > 0 {
		ends = append(ends, e)
	}
	for _, prefix := range dottedPrefixes {
		if strings.HasPrefix(p.src[pos:], prefix) {
			ends = append(ends, p.fieldPathEnds(pos+len(prefix))...)
		}
	}
	slices.Sort(ends)
	ends = slices.Compact(ends)
	slices.Reverse(ends)
	return ends
}

// fieldPathEnds returns the offsets reachable from pos by
// fieldpath = ('.', (quotedfield | standardfield | matchfield))+.
func (p *parser) fieldPathEnds(pos int) []int {
	var ends []int
	seen := map[int]bool{}
	todo := []int{pos}
	for len(todo) > 0 && p.tick(pos) {
		at := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if at >= len(p.src) || p.src[at] != '.' {
			p.expect(at, `"."`)
			continue
		}
		matched := false
		for _, e := range [...]int{p.quotedSegment(at + 1), p.standardSegment(at + 1), p.matchSegment(at + 1)} {
			if e < 0 {
				continue
			}
			matched = true
			if !seen[e] {
				seen[e] = true
				ends = append(ends, e)
				todo = append(todo, e)
			}
		}
		if !matched {
			p.expect(at+1, "field path segment")
		}
	}
	return ends
}

// literal is literal = string | integer | real | boolean | array.
func (p *parser) literal(pos int) (any, int, bool) {
	if !p.tick(pos) {
		return nil, pos, false
	}
	if s, end, ok := p.str(pos); ok {
		return s, end, true
	}
	if n, end, ok := p.number(pos, true); ok {
		return n, end, true
	}
	if end, ok := p.lit(pos, "true"); ok {
		return true, end, true
	}
	if end, ok := p.lit(pos, "false"); ok {
		return false, end, true
	}
	return p.array(pos)
}

// array is array = '[', [<ws>], literallist, [<ws>], ']' → [literals…].
func (p *parser) array(pos int) (any, int, bool) {
	defer p.leave()
	if !p.enter(pos) {
		return nil, pos, false
	}
	pos, ok := p.lit(pos, "[")
	if !ok {
		return nil, pos, false
	}
	items, end, ok := p.literalList(p.spaces(pos))
	if !ok {
		return nil, pos, false
	}
	if end, ok = p.lit(p.spaces(end), "]"); !ok {
		return nil, pos, false
	}
	return items, end, true
}

// groupedLiteralList is '[', [<ws>], literallist, [<ws>], ']' →
// ["array", [literals…]].
func (p *parser) groupedLiteralList(pos int) (any, int, bool) {
	items, end, ok := p.array(pos)
	if !ok {
		return nil, pos, false
	}
	return []any{"array", items}, end, true
}

// literalList is literal {[<ws>], ',', [<ws>], literal}.
func (p *parser) literalList(pos int) ([]any, int, bool) {
	l, end, ok := p.literal(pos)
	if !ok {
		return nil, pos, false
	}
	items := []any{l}
	for {
		q, ok := p.lit(p.spaces(end), ",")
		if !ok {
			break
		}
		l, e, ok := p.literal(p.spaces(q))
		if !ok {
			break
		}
		items = append(items, l)
		end = e
	}
	return items, end, true
}

// groupedRegexpList is '[', [<ws>], string {[<ws>], ',', [<ws>], string},
// [<ws>], ']' → [strings…].
func (p *parser) groupedRegexpList(pos int) (any, int, bool) {
	pos, ok := p.lit(pos, "[")
	if !ok {
		return nil, pos, false
	}
	strs, end, ok := p.stringList(p.spaces(pos))
	if !ok {
		return nil, pos, false
	}
	if end, ok = p.lit(p.spaces(end), "]"); !ok {
		return nil, pos, false
	}
	return strs, end, true
}

// str is string = dqstring | sqstring.
func (p *parser) str(pos int) (any, int, bool) {
	if pos < len(p.src) && (p.src[pos] == '"' || p.src[pos] == '\'') {
		quote := p.src[pos]
		body := p.stringContent(pos+1, quote)
		end, ok := p.lit(body, string(quote))
		if !ok {
			return nil, pos, false
		}
		if quote == '\'' {
			return singleQuoted(p.src[pos+1 : body]), end, true
		}
		return doubleQuoted(p.src[pos+1:body], pos+1), end, true
	}
	p.expect(pos, "string")
	return nil, pos, false
}

// number is integer = ['-'], digits, or when real is allowed also
// real = ['-'], digits, '.', digits, [('E' | 'e'), ['-' | '+'], digits].
func (p *parser) number(pos int, real bool) (any, int, bool) {
	start := pos
	if pos < len(p.src) && p.src[pos] == '-' {
		pos++
	}
	end := p.digits(pos)
	if end < 0 {
		p.expect(pos, "digits")
		return nil, start, false
	}
	if real && end < len(p.src) && p.src[end] == '.' {
		frac := p.digits(end + 1)
		if frac < 0 {
			p.expect(end+1, "digits")
		} else {
			if e := p.exponent(frac); e > 0 {
				frac = e
			}
			return realValue(p.src[start:frac]), frac, true
		}
	}
	return intValue(p.src[start:end], start), end, true
}

// exponent matches ('E' | 'e'), ['-' | '+'], digits.
func (p *parser) exponent(pos int) int {
	if pos >= len(p.src) || (p.src[pos] != 'e' && p.src[pos] != 'E') {
		return -1
	}
	pos++
	if pos < len(p.src) && (p.src[pos] == '-' || p.src[pos] == '+') {
		pos++
	}
	end := p.digits(pos)
	if end < 0 {
		p.expect(pos, "digits")
	}
	return end
}
