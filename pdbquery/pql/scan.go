package pql

import (
	"strings"
	"unicode/utf8"
)

// This file holds the grammar's terminals. Instaparse matches a regular
// expression terminal with java.util.regex's lookingAt and takes that one
// match, never a shorter one, so each matcher below returns a single end
// offset (or -1 when the terminal does not match). Character classes are
// Java's defaults: \s is [ \t\n\x0B\f\r], \d is [0-9] and '.' is anything
// but a line terminator.

// isSpace reports whether c is in Java's \s.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isWordByte reports whether c is in [a-zA-Z0-9_].
func isWordByte(c byte) bool {
	return isDigit(c) || c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// isLineTerminator reports whether r is a character Java's '.' does not match.
func isLineTerminator(r rune) bool {
	switch r {
	case '\n', '\r', '\u0085', '\u2028', '\u2029':
		return true
	}
	return false
}

// spaces matches #'\s+' (or nothing); it returns pos when there is no space.
func (p *parser) spaces(pos int) int {
	for pos < len(p.src) && isSpace(p.src[pos]) {
		pos++
	}
	return pos
}

// digits matches #"[0-9]+".
func (p *parser) digits(pos int) int {
	end := pos
	for end < len(p.src) && isDigit(p.src[end]) {
		end++
	}
	if end == pos {
		return -1
	}
	return end
}

// simpleField matches the first alternative of field, #'[a-zA-Z0-9_]+\??'.
func (p *parser) simpleField(pos int) int {
	end := pos
	for end < len(p.src) && isWordByte(p.src[end]) {
		end++
	}
	if end == pos {
		return -1
	}
	if end < len(p.src) && p.src[end] == '?' {
		end++
	}
	return end
}

// standardSegment matches #'[^\s\.\",\[\]!<=>~]+(\[\d+\])?', a plain
// segment of a dotted field such as the "os" of facts.os or "a[0]".
func (p *parser) standardSegment(pos int) int {
	end := pos
	for end < len(p.src) {
		c := p.src[end]
		if isSpace(c) || strings.IndexByte(`.",[]!<=>~`, c) >= 0 {
			break
		}
		end++
	}
	if end == pos {
		return -1
	}
	// The optional array index.
	if end < len(p.src) && p.src[end] == '[' {
		if d := p.digits(end + 1); d > 0 && d < len(p.src) && p.src[d] == ']' {
			end = d + 1
		}
	}
	return end
}

// quotedSegment matches #'\".*?\"(?=\.|\s)': the shortest quoted text whose
// closing quote is followed by a dot or a space, on one line. The quotes
// stay part of the field name, as in PuppetDB.
func (p *parser) quotedSegment(pos int) int {
	if pos >= len(p.src) || p.src[pos] != '"' {
		return -1
	}
	p.buildSegmentTables()
	j := p.quoteEnd[pos+1]
	if j < 0 {
		return -1
	}
	return j + 1
}

// matchSegment matches #'match\(.*?\)', the text up to the first ')' on the
// same line.
func (p *parser) matchSegment(pos int) int {
	if !strings.HasPrefix(p.src[pos:], "match(") {
		return -1
	}
	p.buildSegmentTables()
	j := p.parenEnd[pos+len("match(")]
	if j < 0 {
		return -1
	}
	return j + 1
}

// buildSegmentTables precomputes, for every byte offset i, the offset of the
// first ')' at or after i on the same line (parenEnd) and of the first '"'
// followed by '.' or a space (quoteEnd), -1 when a line terminator or the
// end comes first. Scanning from each start instead would make fields like
// facts.match(.match(.match(… quadratic.
func (p *parser) buildSegmentTables() {
	if p.parenEnd != nil {
		return
	}
	n := len(p.src)
	p.parenEnd = make([]int, n+1)
	p.quoteEnd = make([]int, n+1)
	p.parenEnd[n], p.quoteEnd[n] = -1, -1
	// Walk backwards; a byte that is not the start of a rune inherits the
	// answer of the rune start after it, which is what a scan would find.
	nextParen, nextQuote := -1, -1
	for i := n - 1; i >= 0; i-- {
		r, _ := utf8.DecodeRuneInString(p.src[i:])
		switch {
		case !utf8.RuneStart(p.src[i]):
			// Continuation byte: a scan never starts here in practice.
		case isLineTerminator(r):
			nextParen, nextQuote = -1, -1
		case r == ')':
			nextParen = i
		case r == '"':
			if i+1 < n && (p.src[i+1] == '.' || isSpace(p.src[i+1])) {
				nextQuote = i
			}
		}
		p.parenEnd[i], p.quoteEnd[i] = nextParen, nextQuote
	}
}

// stringContent matches #'(?:[^"\\]|\\.)*' (or its single-quote twin): the
// body of a quoted string, where a backslash escapes any one character
// except a line terminator.
func (p *parser) stringContent(pos int, quote byte) int {
	for pos < len(p.src) {
		c := p.src[pos]
		if c == quote {
			break
		}
		if c != '\\' {
			_, size := utf8.DecodeRuneInString(p.src[pos:])
			pos += size
			continue
		}
		if pos+1 >= len(p.src) {
			break
		}
		r, size := utf8.DecodeRuneInString(p.src[pos+1:])
		if isLineTerminator(r) {
			break
		}
		pos += 1 + size
	}
	return pos
}
