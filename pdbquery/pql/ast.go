package pql

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The AST is built from []any, string, bool, int64, javaDouble and
// *badValue, and serialised by appendJSON.

// javaDouble is a real number, serialised the way Jackson writes a Java
// double (1500.0, 1.0E-6), so that integers and reals keep their types.
type javaDouble float64

// badValue stands for a value PuppetDB's transform rejects. Instaparse
// transforms only the final parse tree, so the error must not be raised
// while the parser may still backtrack: it is carried in the tree and
// reported by appendJSON if it is still there at the end.
type badValue struct {
	offset int
	msg    string
}

// chain builds the tree PuppetDB returns for items joined by op ("or" or
// "and"). The grammar rule, expr-or = expr-and { or expr-or }, is
// ambiguous, and Instaparse returns the first parse its GLL scheduler
// completes: for n items that is, recursively,
//
//	n ≡ 2 (mod 3): [op, e1, chain(e2…en)]
//	n ≡ 0 (mod 3): [op, e1, e2, chain(e3…en)]
//	n ≡ 1 (mod 3): [op, e1, [op, e2, e3], chain(e4…en)]
//
// with a single item standing for itself, e.g. a or b or c or d gives
// ["or", a, ["or", b, c], d]. This was measured against PuppetDB 7.12.1
// (see the chains in testdata/queries.json).
func chain(op string, items []any) any {
	switch n := len(items); {
	case n == 1:
		return items[0]
	case n%3 == 2:
		return []any{op, items[0], chain(op, items[1:])}
	case n%3 == 0:
		return []any{op, items[0], items[1], chain(op, items[2:])}
	default:
		return []any{op, items[0], []any{op, items[1], items[2]}, chain(op, items[3:])}
	}
}

// fromNode is transform-from: ["from", entity, clauses…], where an extract
// swallows the filter and group by that follow it, but not the paging.
func fromNode(entity string, clauses []any) []any {
	out := []any{"from", entity}
	if len(clauses) < 2 || !isClause(clauses[0], "extract") {
		return append(out, clauses...)
	}
	extract := append([]any(nil), clauses[0].([]any)...)
	var paging []any
	for _, c := range clauses[1:] {
		if isClause(c, "limit") || isClause(c, "offset") || isClause(c, "order_by") {
			paging = append(paging, c)
		} else {
			extract = append(extract, c)
		}
	}
	if len(extract) == 2 {
		// Only paging followed the extract: nothing to swallow.
		return append(out, clauses...)
	}
	out = append(out, extract)
	return append(out, paging...)
}

// isClause reports whether v is an AST clause named name.
func isClause(v any, name string) bool {
	l, ok := v.([]any)
	return ok && len(l) > 0 && l[0] == name
}

// intValue is transform-integer: Long/valueOf, which rejects values that
// do not fit in 64 bits.
func intValue(text string, offset int) any {
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return &badValue{offset, "integer out of range: " + text}
	}
	return n
}

// realValue is transform-real: Double/valueOf. Jackson writes the
// infinities as strings.
func realValue(text string) any {
	f, _ := strconv.ParseFloat(text, 64) // the grammar guarantees the syntax
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return javaDouble(f)
}

// singleQuoted is transform-sqstring: only \' loses its backslash.
func singleQuoted(body string) string {
	return strings.ReplaceAll(body, `\'`, `'`)
}

// doubleQuoted is transform-dqstring: the body is decoded as a JSON string
// by Jackson, which accepts raw control characters but only JSON's
// escapes. offset is where the body starts, for errors.
func doubleQuoted(body string, offset int) any {
	if !strings.Contains(body, `\`) {
		return body
	}
	var units []uint16 // Java strings are UTF-16; surrogates pair up later
	var b strings.Builder
	flush := func() {
		b.WriteString(utf16String(units))
		units = units[:0]
	}
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			flush()
			r, size := utf8.DecodeRuneInString(body[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteString(body[i : i+1])
			} else {
				b.WriteRune(r)
			}
			i += size
			continue
		}
		// stringContent guarantees a character after the backslash.
		esc := body[i+1]
		if esc == 'u' {
			if i+6 > len(body) {
				return &badValue{offset + i, "unexpected end of \\u escape in string"}
			}
			u, err := strconv.ParseUint(body[i+2:i+6], 16, 16)
			if err != nil {
				return &badValue{offset + i, "illegal \\u escape in string: " + body[i:i+6]}
			}
			units = append(units, uint16(u))
			i += 6
			continue
		}
		flush()
		if dec, ok := jsonEscapes[esc]; ok {
			b.WriteByte(dec)
			i += 2
			continue
		}
		r, _ := utf8.DecodeRuneInString(body[i+1:])
		return &badValue{offset + i, "unrecognized character escape " + strconv.QuoteRune(r) + " in string"}
	}
	flush()
	return b.String()
}

// jsonEscapes are JSON's one-letter escapes.
var jsonEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// utf16String decodes UTF-16 code units; a lone surrogate becomes '?',
// which is what PuppetDB's UTF-8 output writes for it.
func utf16String(units []uint16) string {
	var b strings.Builder
	for i := 0; i < len(units); i++ {
		u := rune(units[i])
		switch {
		case utf16.IsSurrogate(u) && u < 0xdc00 && i+1 < len(units) && 0xdc00 <= units[i+1] && units[i+1] < 0xe000:
			b.WriteRune(utf16.DecodeRune(u, rune(units[i+1])))
			i++
		case utf16.IsSurrogate(u):
			b.WriteByte('?')
		default:
			b.WriteRune(u)
		}
	}
	return b.String()
}

// appendJSON serialises v compactly. It returns the first *badValue found
// instead, if any, since such a value makes the whole query fail.
func appendJSON(buf []byte, v any) ([]byte, *badValue) {
	switch v := v.(type) {
	case []any:
		buf = append(buf, '[')
		for i, e := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			var bad *badValue
			if buf, bad = appendJSON(buf, e); bad != nil {
				return nil, bad
			}
		}
		return append(buf, ']'), nil
	case string:
		return appendString(buf, v), nil
	case bool:
		return strconv.AppendBool(buf, v), nil
	case int64:
		return strconv.AppendInt(buf, v, 10), nil
	case javaDouble:
		return append(buf, formatJavaDouble(float64(v))...), nil
	case *badValue:
		return nil, v
	}
	// Unreachable: the parser builds only the types above.
	return append(buf, "null"...), nil
}

// formatJavaDouble formats f like Java's Double.toString: plain notation
// with at least one decimal for 1e-3 <= |f| < 1e7, otherwise d.dddE±n.
func formatJavaDouble(f float64) string {
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"' || r == '\\':
			buf = append(buf, '\\', byte(r))
		case r == '\n':
			buf = append(buf, '\\', 'n')
		case r == '\r':
			buf = append(buf, '\\', 'r')
		case r == '\t':
			buf = append(buf, '\\', 't')
		case r < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			buf = utf8.AppendRune(buf, r)
		}
	}
	return append(buf, '"')
}
