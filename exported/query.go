package exported

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
)

// Query is a parsed PuppetDB query AST over resources, as the puppetdb terminus sends
// it for a collector: ["and",["=","type","File"],["=","exported",true],...].
type Query struct{ root node }

type node interface {
	match(r *Resource) bool
}

// QueryError is a query this server does not understand: HTTP 400.
type QueryError struct{ Msg string }

func (e *QueryError) Error() string { return e.Msg }

func queryErrorf(format string, args ...any) error {
	return &QueryError{Msg: fmt.Sprintf(format, args...)}
}

// ParseQuery reads a query AST. An empty query matches every resource.
func ParseQuery(data []byte) (*Query, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return &Query{root: always{}}, nil
	}
	var ast any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&ast); err != nil {
		return nil, queryErrorf("query is not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, queryErrorf("query is not JSON: data after the query at offset %d", dec.InputOffset())
	}
	if s, ok := ast.(string); ok {
		return nil, queryErrorf("PQL queries are not supported (%q); send the AST form", s)
	}
	n, err := parseNode(ast)
	if err != nil {
		return nil, err
	}
	return &Query{root: n}, nil
}

// Match reports whether r answers the query.
func (q *Query) Match(r *Resource) bool { return q.root.match(r) }

// Collector says whether the query is a collector's, as the terminus sends it:
// exported resources only (["=","exported",true] among its and-terms), with the
// asking node left out. Any other query is not answered from the exports.
func (q *Query) Collector() bool {
	terms, ok := q.root.(and)
	if !ok || q.Certname() == "" {
		return false
	}
	for _, t := range terms {
		if e, ok := t.(equal); ok && e.field.name == "exported" && !e.field.parameter && e.value == true {
			return true
		}
	}
	return false
}

// Types returns the types of the resources the query can match, when it names
// them: ["=","type",T] alone or among its and-terms (nested too), as every
// collector query does, or an or of such terms. all is true when the query may
// match resources of any type.
func (q *Query) Types() (types []string, all bool) { return typesOf(q.root) }

func typesOf(n node) (types []string, all bool) {
	switch n := n.(type) {
	case equal:
		if t, ok := n.value.(string); ok && !n.field.parameter && n.field.name == "type" {
			return []string{t}, false
		}
	case and:
		// Any one term that names the types bounds the whole.
		for _, k := range n {
			if ts, all := typesOf(k); !all {
				return ts, false
			}
		}
	case or:
		for _, k := range n {
			ts, all := typesOf(k)
			if all {
				return nil, true
			}
			types = append(types, ts...)
		}
		return types, false
	}
	return nil, true
}

// Certname is the node a collector query excludes (["not",["=","certname",X]]), which
// is the node that asks: the terminus leaves out the asking node's own exports.
func (q *Query) Certname() string {
	var find func(n node) string
	find = func(n node) string {
		switch n := n.(type) {
		case and:
			for _, c := range n {
				if s := find(c); s != "" {
					return s
				}
			}
		case not:
			if e, ok := n.n.(equal); ok && e.field.name == "certname" {
				if s, ok := e.value.(string); ok {
					return s
				}
			}
		}
		return ""
	}
	return find(q.root)
}

func parseNode(ast any) (node, error) {
	list, ok := ast.([]any)
	if !ok || len(list) == 0 {
		return nil, queryErrorf("query term %s is not an operator list", show(ast))
	}
	op, ok := list[0].(string)
	if !ok {
		return nil, queryErrorf("query term %s: operator is not a string", show(ast))
	}
	args := list[1:]
	switch op {
	case "and", "or":
		if len(args) == 0 {
			return nil, queryErrorf("%q needs at least one term", op)
		}
		var kids []node
		for _, a := range args {
			k, err := parseNode(a)
			if err != nil {
				return nil, err
			}
			kids = append(kids, k)
		}
		if op == "and" {
			return and(kids), nil
		}
		return or(kids), nil
	case "not":
		if len(args) != 1 {
			return nil, queryErrorf("%q takes one term, got %d", op, len(args))
		}
		k, err := parseNode(args[0])
		if err != nil {
			return nil, err
		}
		return not{k}, nil
	case "=", "~":
		if len(args) != 2 {
			return nil, queryErrorf("%q takes a field and a value, got %d terms", op, len(args))
		}
		f, err := parseField(args[0])
		if err != nil {
			return nil, err
		}
		if op == "=" {
			return equal{field: f, value: args[1]}, nil
		}
		s, ok := args[1].(string)
		if !ok {
			return nil, queryErrorf("%q needs a regular expression string, got %s", op, show(args[1]))
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, queryErrorf("%q: %v", op, err)
		}
		return match{field: f, re: re}, nil
	}
	return nil, queryErrorf("unknown query operator %q (supported: =, ~, not, and, or)", op)
}

// field is a resource field ("type", "tag") or a parameter (["parameter","mode"]).
type field struct {
	name      string
	parameter bool
}

var fields = map[string]bool{"certname": true, "type": true, "title": true, "tag": true, "exported": true,
	"environment": true, "file": true, "line": true, "resource": true}

func parseField(v any) (field, error) {
	switch v := v.(type) {
	case string:
		if !fields[v] {
			return field{}, queryErrorf("unknown resource field %q", v)
		}
		return field{name: v}, nil
	case []any:
		if len(v) == 2 && v[0] == "parameter" {
			if name, ok := v[1].(string); ok {
				return field{name: name, parameter: true}, nil
			}
		}
	}
	return field{}, queryErrorf("unknown field %s", show(v))
}

// values are the field's values in r (a resource has many tags).
func (f field) values(r *Resource) []any {
	if f.parameter {
		v, ok := r.Parameters[f.name]
		if !ok {
			return nil
		}
		return []any{v}
	}
	switch f.name {
	case "certname":
		return []any{r.Certname}
	case "type":
		return []any{r.Type}
	case "title":
		return []any{r.Title}
	case "tag":
		out := make([]any, len(r.Tags))
		for i, t := range r.Tags {
			out[i] = t
		}
		return out
	case "exported":
		return []any{r.Exported}
	case "environment":
		return []any{r.Environment}
	case "file":
		if r.File == nil {
			return nil
		}
		return []any{*r.File}
	case "line":
		if r.Line == nil {
			return nil
		}
		return []any{json.Number(fmt.Sprint(*r.Line))}
	case "resource":
		return []any{r.Resource}
	}
	return nil
}

type always struct{}

func (always) match(*Resource) bool { return true }

type and []node

func (a and) match(r *Resource) bool {
	for _, n := range a {
		if !n.match(r) {
			return false
		}
	}
	return true
}

type or []node

func (o or) match(r *Resource) bool {
	for _, n := range o {
		if n.match(r) {
			return true
		}
	}
	return false
}

type not struct{ n node }

func (n not) match(r *Resource) bool { return !n.n.match(r) }

type equal struct {
	field field
	value any
}

func (e equal) match(r *Resource) bool {
	want := e.value
	if e.field.name == "tag" && !e.field.parameter {
		if s, ok := want.(string); ok {
			want = strings.ToLower(s)
		}
	}
	for _, v := range e.field.values(r) {
		if same(v, want) {
			return true
		}
	}
	return false
}

type match struct {
	field field
	re    *regexp.Regexp
}

func (m match) match(r *Resource) bool {
	for _, v := range m.field.values(r) {
		if s, ok := v.(string); ok && m.re.MatchString(s) {
			return true
		}
	}
	return false
}

// same compares JSON values: numbers by value, the rest structurally.
func same(a, b any) bool {
	an, aok := number(a)
	bn, bok := number(b)
	if aok && bok {
		return an == bn
	}
	return reflect.DeepEqual(normalise(a), normalise(b))
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

// normalise makes decoded JSON comparable whether numbers were decoded as
// json.Number or float64.
func normalise(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, _ := v.Float64()
		return f
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalise(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = normalise(e)
		}
		return out
	}
	return v
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
