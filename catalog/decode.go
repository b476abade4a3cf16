package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written JSON decoder for the catalog: encoding/json decoding into interfaces
// reads about 30 MB/s, too slow for catalogs of 100,000 resources. This one decodes
// the known structure into structs, parameter values into string, json.Number, bool,
// nil, []any and map[string]any, and says where in the input a problem is.

// maxDepth bounds the nesting of values.
const maxDepth = 10000

type decoder struct {
	data   []byte
	pos    int
	depth  int
	intern map[string]string
}

// decodeError is a problem at a byte offset of the input.
type decodeError struct {
	data []byte
	off  int
	msg  string
}

func (e *decodeError) Error() string {
	return "catalog: malformed JSON at " + position(e.data, e.off) + ": " + e.msg
}

func (d *decoder) errorf(off int, format string, args ...any) error {
	return &decodeError{data: d.data, off: off, msg: fmt.Sprintf(format, args...)}
}

// unexpected reports the byte at the current position, or the end of input.
func (d *decoder) unexpected(what string) error {
	if d.pos >= len(d.data) {
		return d.errorf(d.pos, "unexpected end of input, expecting %s", what)
	}
	return d.errorf(d.pos, "unexpected %s, expecting %s", quoteByte(d.data[d.pos]), what)
}

func quoteByte(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\r', '\n':
			d.pos++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, 0 at the end.
func (d *decoder) peek() byte {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

// kind names the JSON value starting at the current position, for type errors.
func (d *decoder) kind() string {
	switch d.peek() {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case 0:
		return "end of input"
	}
	return "number"
}

func (d *decoder) typeError(field, want string) error {
	return d.errorf(d.pos, "%s: expected %s, got %s", field, want, d.kind())
}

// object calls fn for each key of the object at the current position; fn must consume
// the value.
func (d *decoder) object(fn func(key string) error) error {
	if d.peek() != '{' {
		return d.unexpected("'{'")
	}
	d.pos++
	if d.depth++; d.depth > maxDepth {
		return d.errorf(d.pos, "nesting deeper than %d", maxDepth)
	}
	if d.peek() == '}' {
		d.pos++
		d.depth--
		return nil
	}
	for {
		if d.peek() != '"' {
			return d.unexpected("a string key")
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		if d.peek() != ':' {
			return d.unexpected("':'")
		}
		d.pos++
		if err := fn(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			d.depth--
			return nil
		default:
			return d.unexpected("',' or '}'")
		}
	}
}

// array calls fn for each element of the array at the current position.
func (d *decoder) array(fn func() error) error {
	if d.peek() != '[' {
		return d.unexpected("'['")
	}
	d.pos++
	if d.depth++; d.depth > maxDepth {
		return d.errorf(d.pos, "nesting deeper than %d", maxDepth)
	}
	if d.peek() == ']' {
		d.pos++
		d.depth--
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			d.depth--
			return nil
		default:
			return d.unexpected("',' or ']'")
		}
	}
}

// null consumes a null if there is one.
func (d *decoder) null() (bool, error) {
	if d.peek() != 'n' {
		return false, nil
	}
	return true, d.literal("null")
}

func (d *decoder) literal(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.errorf(d.pos, "invalid literal, expecting %q", word)
	}
	d.pos += len(word)
	return nil
}

// value decodes any JSON value.
func (d *decoder) value() (any, error) {
	switch c := d.peek(); {
	case c == '"':
		return d.str()
	case c == '{':
		m := make(map[string]any)
		err := d.object(func(k string) error {
			v, err := d.value()
			m[k] = v
			return err
		})
		return m, err
	case c == '[':
		a := []any{}
		err := d.array(func() error {
			v, err := d.value()
			a = append(a, v)
			return err
		})
		return a, err
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, d.unexpected("a value")
}

// skip consumes one value of any kind.
func (d *decoder) skip() error {
	_, err := d.value()
	return err
}

func (d *decoder) number() (json.Number, error) {
	start, data := d.pos, d.data
	i := start
	if i < len(data) && data[i] == '-' {
		i++
	}
	digits := func() bool {
		j := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i > j
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case !digits():
		d.pos = i
		return "", d.unexpected("a digit")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if !digits() {
			d.pos = i
			return "", d.unexpected("a digit")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if !digits() {
			d.pos = i
			return "", d.unexpected("a digit")
		}
	}
	d.pos = i
	return json.Number(d.makeString(data[start:i])), nil
}

// makeString returns b as a string, sharing one copy of short repeated strings (keys,
// tags, "file", "0644"...). The table stays small so that lookups stay in cache.
func (d *decoder) makeString(b []byte) string {
	if len(b) > 16 {
		return string(b)
	}
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.intern != nil && len(d.intern) < 4096 {
		d.intern[s] = s
	}
	return s
}

// str decodes the string at the current position.
func (d *decoder) str() (string, error) {
	if d.peek() != '"' {
		return "", d.unexpected("a string")
	}
	start := d.pos + 1
	data := d.data
	i := start
	for i < len(data) {
		c := data[i]
		if c == '"' {
			d.pos = i + 1
			return d.makeString(data[start:i]), nil
		}
		if c == '\\' {
			return d.strEscaped(start, i)
		}
		if c < 0x20 {
			return "", d.errorf(i, "control character %s in string", quoteByte(c))
		}
		i++
	}
	return "", d.errorf(len(data), "unexpected end of input in string")
}

// strEscaped decodes a string with escapes; data[start:i] has none.
func (d *decoder) strEscaped(start, i int) (string, error) {
	data := d.data
	buf := make([]byte, 0, i-start+16)
	buf = append(buf, data[start:i]...)
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			return "", d.errorf(i, "control character %s in string", quoteByte(c))
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(data) {
			break
		}
		switch e := data[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(data, i+2)
			if !ok {
				return "", d.errorf(i, "invalid \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(data, i+2); ok && i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return "", d.errorf(i, "invalid escape %s in string", quoteByte(e))
		}
		i += 2
	}
	return "", d.errorf(len(data), "unexpected end of input in string")
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// stringField decodes a string or null.
func (d *decoder) stringField(field string, dst *string) error {
	if isNull, err := d.null(); isNull || err != nil {
		return err
	}
	if d.peek() != '"' {
		return d.typeError(field, "string")
	}
	s, err := d.str()
	*dst = s
	return err
}

// scalarField decodes a string, a number (kept as written) or null.
func (d *decoder) scalarField(field string, dst *scalar) error {
	if isNull, err := d.null(); isNull || err != nil {
		*dst = scalar{}
		return err
	}
	switch c := d.peek(); {
	case c == '"':
		s, err := d.str()
		*dst = scalar{S: s, Set: true}
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := d.number()
		*dst = scalar{S: string(n), Set: true}
		return err
	}
	return d.typeError(field, "string or number")
}

func (d *decoder) intField(field string, dst *int) error {
	if isNull, err := d.null(); isNull || err != nil {
		return err
	}
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return d.typeError(field, "integer")
	}
	start := d.pos
	n, err := d.number()
	if err != nil {
		return err
	}
	v, err := strconv.Atoi(string(n))
	if err != nil {
		return d.errorf(start, "%s: expected integer, got %s", field, n)
	}
	*dst = v
	return nil
}

func (d *decoder) boolField(field string, dst *bool) error {
	if isNull, err := d.null(); isNull || err != nil {
		return err
	}
	switch d.peek() {
	case 't':
		*dst = true
		return d.literal("true")
	case 'f':
		*dst = false
		return d.literal("false")
	}
	return d.typeError(field, "bool")
}

func (d *decoder) stringsField(field string, dst *[]string) error {
	if isNull, err := d.null(); isNull || err != nil {
		return err
	}
	if d.peek() != '[' {
		return d.typeError(field, "array")
	}
	out := []string{}
	err := d.array(func() error {
		var s string
		if err := d.stringField(field+" element", &s); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	*dst = out
	return err
}

// catalogObject decodes the top-level object into jc.
func (d *decoder) catalogObject(jc *jsonCatalog) error {
	if d.peek() != '{' {
		return d.typeError("catalog", "object")
	}
	return d.object(func(key string) error {
		switch key {
		case "document_type":
			return d.stringField(key, &jc.DocumentType)
		case "data":
			if isNull, err := d.null(); isNull || err != nil {
				return err
			}
			if d.peek() != '{' {
				return d.typeError(key, "object")
			}
			jc.dataAt = d.pos
			return d.skip()
		case "tags":
			return d.stringsField(key, &jc.Tags)
		case "name":
			return d.stringField(key, &jc.Name)
		case "version":
			return d.scalarField(key, &jc.Version)
		case "code_id":
			return d.scalarField(key, &jc.CodeID)
		case "catalog_uuid":
			return d.stringField(key, &jc.CatalogUUID)
		case "catalog_format":
			jc.CatalogFormat = new(int)
			return d.intField(key, jc.CatalogFormat)
		case "environment":
			return d.stringField(key, &jc.Environment)
		case "classes":
			return d.stringsField(key, &jc.Classes)
		case "resources":
			if isNull, err := d.null(); isNull || err != nil {
				return err
			}
			if d.peek() != '[' {
				return d.typeError(key, "array")
			}
			var titled []bool
			ok, err := d.parallelElements(func(n int) {
				jc.Resources, titled = make([]Resource, n), make([]bool, n)
			}, func(d *decoder, i int) (err error) {
				titled[i], err = d.resource(&jc.Resources[i])
				return err
			})
			if ok {
				for i, t := range titled {
					if !t {
						jc.untitled = append(jc.untitled, i)
					}
				}
				return err
			}
			// Counting `"type":` over-estimates the number of resources a little
			// and costs far less than growing the slice.
			jc.Resources = make([]Resource, 0, bytes.Count(d.data[d.pos:], []byte(`"type":`)))
			return d.array(func() error {
				jc.Resources = append(jc.Resources, Resource{})
				titled, err := d.resource(&jc.Resources[len(jc.Resources)-1])
				if !titled {
					jc.untitled = append(jc.untitled, len(jc.Resources)-1)
				}
				return err
			})
		case "edges":
			if isNull, err := d.null(); isNull || err != nil {
				return err
			}
			if d.peek() != '[' {
				return d.typeError(key, "array")
			}
			ok, err := d.parallelElements(func(n int) { jc.Edges = make([]jsonEdge, n) },
				func(d *decoder, i int) error { return d.edge(&jc.Edges[i]) })
			if ok {
				return err
			}
			jc.Edges = make([]jsonEdge, 0, 64)
			return d.array(func() error {
				var e jsonEdge
				err := d.edge(&e)
				jc.Edges = append(jc.Edges, e)
				return err
			})
		}
		return d.skip()
	})
}

// edge decodes one edge into e.
func (d *decoder) edge(e *jsonEdge) error {
	if d.peek() != '{' {
		return d.typeError("edge", "object")
	}
	return d.object(func(key string) error {
		switch key {
		case "source":
			return d.stringField("edge source", &e.Source)
		case "target":
			return d.stringField("edge target", &e.Target)
		}
		return d.skip()
	})
}

// resource decodes one resource into r and reports whether it has a title.
func (d *decoder) resource(r *Resource) (titled bool, err error) {
	if d.peek() != '{' {
		return true, d.typeError("resource", "object")
	}
	err = d.object(func(key string) error {
		switch key {
		case "type":
			return d.stringField(key, &r.Type)
		case "title":
			var title scalar
			err := d.scalarField(key, &title)
			r.Title, titled = title.S, title.Set
			return err
		case "tags":
			return d.stringsField(key, &r.Tags)
		case "exported":
			return d.boolField(key, &r.Exported)
		case "file":
			return d.stringField(key, &r.File)
		case "line":
			return d.intField(key, &r.Line)
		case "kind":
			return d.stringField(key, &r.Kind)
		case "sensitive_parameters":
			return d.stringsField(key, &r.SensitiveParameters)
		case "parameters":
			if isNull, err := d.null(); isNull || err != nil {
				return err
			}
			if d.peek() != '{' {
				return d.typeError(key, "object")
			}
			r.Parameters = make(map[string]any)
			return d.object(func(k string) error {
				v, err := d.value()
				r.Parameters[k] = v
				return err
			})
		}
		return d.skip()
	})
	return titled, err
}

// decodeCatalog decodes the JSON object at data[start:] and checks that only
// whitespace follows it.
func decodeCatalog(data []byte, start int, jc *jsonCatalog) error {
	d := &decoder{data: data, pos: start, intern: make(map[string]string, 256)}
	if err := d.catalogObject(jc); err != nil {
		return err
	}
	d.skipSpace()
	if d.pos < len(data) {
		return fmt.Errorf("catalog: unexpected data after the JSON document at %s", position(data, d.pos))
	}
	return nil
}

// decodeInner decodes the wrapped document's "data" object at data[start:].
func decodeInner(data []byte, start int, jc *jsonCatalog) error {
	d := &decoder{data: data, pos: start, intern: make(map[string]string, 256)}
	return d.catalogObject(jc)
}

// DecodeObject decodes a JSON object, calling field with each key and its value,
// decoded as a parameter value is (string, json.Number, bool, nil, []any,
// map[string]any), without building a map of the object itself. Only white space
// may follow the object. It reads several times faster than encoding/json, and
// says where in data a problem is.
func DecodeObject(data []byte, field func(key string, value any) error) error {
	d := &decoder{data: data}
	if d.peek() != '{' {
		return d.unexpected("an object")
	}
	err := d.object(func(k string) error {
		v, err := d.value()
		if err != nil {
			return err
		}
		return field(k, v)
	})
	if err != nil {
		return err
	}
	if d.skipSpace(); d.pos < len(d.data) {
		return d.unexpected("the end of the input")
	}
	return nil
}
