package pql

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf16"
)

// maxDepth bounds how deeply queries, parentheses, negations and arrays may
// nest, so that hostile input cannot exhaust the stack.
const maxDepth = 500

// Error is why a PQL query could not be translated: a syntax error, or a
// value the grammar accepts but PuppetDB's transform rejects (an integer
// out of range, a bad escape in a double-quoted string, an implicit
// subquery with more than one clause).
type Error struct {
	Offset   int      // byte offset into the query
	Line     int      // 1-based line of Offset
	Column   int      // 1-based column of Offset, in UTF-16 code units as in PuppetDB
	Expected []string // for syntax errors: what the grammar allowed at Offset
	Found    string   // for syntax errors: the text at Offset, or "" at its end
	Msg      string   // for other errors: what is wrong
}

// Error returns the position and, for a syntax error, what was expected.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pql: parse error at line %d, column %d (offset %d)", e.Line, e.Column, e.Offset)
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if len(e.Expected) > 0 {
		if len(e.Expected) == 1 {
			b.WriteString(": expected ")
		} else {
			b.WriteString(": expected one of ")
		}
		b.WriteString(strings.Join(e.Expected, ", "))
		if e.Found == "" {
			b.WriteString("; found end of input")
		} else {
			fmt.Fprintf(&b, "; found %q", e.Found)
		}
	}
	return b.String()
}

// newError builds an Error at byte offset off of src, computing the line
// and column the way Instaparse reports them (lines split at '\n').
// An invalid UTF-8 byte counts as one column, as the U+FFFD it becomes.
func newError(src string, off int) *Error {
	line := 1 + strings.Count(src[:off], "\n")
	lineStart := strings.LastIndexByte(src[:off], '\n') + 1
	col := 1
	for _, r := range src[lineStart:off] {
		col += utf16.RuneLen(r) // Java counts the halves of a surrogate pair
	}
	return &Error{Offset: off, Line: line, Column: col}
}

// Parse translates a PQL query into PuppetDB's AST: ["from", ENTITY, ...].
// The result is what PuppetDB 7.12.1 answers to
// /pdb/query/v4?query=PQL&ast_only=true for a query it accepts. Every
// failure is an *Error.
func Parse(pql string) (json.RawMessage, error) {
	p := newParser(pql)
	ast, err := p.parseQuery()
	if err != nil {
		return nil, err
	}
	var buf []byte
	buf, bad := appendJSON(buf, ast)
	if bad != nil {
		e := newError(pql, bad.offset)
		e.Msg = bad.msg
		return nil, e
	}
	return json.RawMessage(buf), nil
}
