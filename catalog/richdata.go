package catalog

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Typed is a rich data value kept as Puppet wrote it: Type is the __ptype
// (Timestamp, Timespan, SemVer, SemVerRange, Regexp, Binary, URI, or a type value such
// as Pcore::IntegerType) and Value the decoded __pvalue: a string for the scalar types
// (Binary is base64), the remaining attributes as map[string]any for type values.
type Typed struct {
	Type  string
	Value any
}

// String is the value as Puppet wrote it, or the type's name when it has no string form.
func (t Typed) String() string {
	if s, ok := t.Value.(string); ok {
		return s
	}
	return t.Type
}

// typedScalars are the __ptype values kept as Typed, with a string __pvalue.
var typedScalars = map[string]bool{
	"Timestamp":   true,
	"Timespan":    true,
	"SemVer":      true,
	"SemVerRange": true,
	"Regexp":      true,
	"Binary":      true,
	"URI":         true,
}

// converter decodes rich data in parameter values, in place, and records problems.
type converter struct {
	problems []string
	where    string // "Type[title]: parameter p"
}

func (c *converter) fail(format string, args ...any) {
	c.problems = append(c.problems, c.where+": "+fmt.Sprintf(format, args...))
}

// resource decodes the parameters of r, resource i of the catalog; problems name it
// by its reference if named, else by its index.
func (c *converter) resource(r *Resource, i int, named bool) {
	for name, v := range r.Parameters {
		if !needsConversion(v) {
			continue
		}
		label := r.Ref()
		if !named {
			label = "resource " + strconv.Itoa(i)
		}
		c.where = label + ": parameter " + name
		nv, ok := c.value(v)
		if !ok {
			continue
		}
		// As the agent does: a top-level Sensitive is unwrapped and its parameter
		// listed as sensitive.
		if s, isSensitive := nv.(Sensitive); isSensitive {
			nv = s.Value
			if !r.IsSensitive(name) {
				r.SensitiveParameters = append(r.SensitiveParameters, name)
			}
		}
		r.Parameters[name] = nv
	}
}

// needsConversion is false for the scalars that make up most of a catalog.
func needsConversion(v any) bool {
	switch v.(type) {
	case string, json.Number, bool, nil:
		return false
	}
	return true
}

// value decodes v. ok is false when a problem was recorded; the value is then unusable.
func (c *converter) value(v any) (any, bool) {
	switch v := v.(type) {
	case []any:
		ok := true
		for i, e := range v {
			if !needsConversion(e) {
				continue
			}
			ne, eok := c.value(e)
			v[i] = ne
			ok = ok && eok
		}
		return v, ok
	case map[string]any:
		if pt, has := v["__ptype"]; has {
			return c.rich(pt, v)
		}
		if _, has := v["__pref"]; has {
			c.fail("local reference (__pref) values are not supported")
			return nil, false
		}
		ok := true
		for k, e := range v {
			if !needsConversion(e) {
				continue
			}
			ne, eok := c.value(e)
			v[k] = ne
			ok = ok && eok
		}
		return v, ok
	}
	return v, true
}

// rich decodes an object carrying a __ptype.
func (c *converter) rich(pt any, m map[string]any) (any, bool) {
	ptype, isString := pt.(string)
	if !isString {
		c.fail("__ptype is not a string")
		return nil, false
	}
	pvalue, hasValue := m["__pvalue"]
	switch {
	case ptype == "Sensitive":
		if !hasValue {
			c.fail("Sensitive without __pvalue")
			return nil, false
		}
		v, ok := c.value(pvalue)
		return Sensitive{Value: v}, ok
	case ptype == "Default":
		return Default{}, true
	case ptype == "Hash":
		return c.hash(pvalue)
	case ptype == "Symbol":
		if s, ok := pvalue.(string); ok {
			return s, true
		}
		c.fail("Symbol __pvalue is not a string")
		return nil, false
	case ptype == "Deferred":
		return c.deferred(m)
	case typedScalars[ptype]:
		s, ok := pvalue.(string)
		if !ok {
			c.fail("%s __pvalue is not a string", ptype)
			return nil, false
		}
		return Typed{Type: ptype, Value: s}, true
	case strings.HasPrefix(ptype, "Pcore::") && strings.HasSuffix(ptype, "Type"):
		// A type value such as Integer[1,2]: {"__ptype":"Pcore::IntegerType","from":1,"to":2}.
		attrs := make(map[string]any, len(m)-1)
		ok := true
		for k, e := range m {
			if k == "__ptype" {
				continue
			}
			ne, eok := c.value(e)
			attrs[k] = ne
			ok = ok && eok
		}
		return Typed{Type: ptype, Value: attrs}, ok
	}
	c.fail("unknown rich data type %q", ptype)
	return nil, false
}

// hash decodes {"__ptype":"Hash","__pvalue":[k1,v1,k2,v2...]}, Puppet's form for a
// hash with a key that is not a string; keys become strings (see keyString).
func (c *converter) hash(pvalue any) (any, bool) {
	list, isList := pvalue.([]any)
	if !isList || len(list)%2 != 0 {
		c.fail("Hash __pvalue is not a list of key/value pairs")
		return nil, false
	}
	out := make(map[string]any, len(list)/2)
	ok := true
	for i := 0; i < len(list); i += 2 {
		k, kok := c.value(list[i])
		v, vok := c.value(list[i+1])
		ok = ok && kok && vok
		out[keyString(k)] = v
	}
	return out, ok
}

// keyString is the string used as the Go map key for a Puppet hash key.
func keyString(k any) string {
	if s, ok := k.(string); ok {
		return s
	}
	return rubyString(k)
}

// rubyString renders v as Ruby's to_s would, the way functions such as join and
// sprintf('%s') see their arguments: nil is "", containers look like Ruby's inspect.
func rubyString(v any) string {
	var b strings.Builder
	writeRuby(&b, v, false)
	return b.String()
}

func writeRuby(b *strings.Builder, v any, nested bool) {
	switch v := v.(type) {
	case nil:
		if nested {
			b.WriteString("nil")
		}
	case string:
		if nested {
			fmt.Fprintf(b, "%q", v)
		} else {
			b.WriteString(v)
		}
	case json.Number:
		b.WriteString(string(v))
	case bool:
		fmt.Fprint(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRuby(b, e, true)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := sortedKeys(v)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(b, "%q=>", k)
			writeRuby(b, v[k], true)
		}
		b.WriteByte('}')
	case Sensitive:
		b.WriteString("Sensitive [value redacted]")
	case Default:
		b.WriteString("default")
	case Typed:
		b.WriteString(v.String())
	default:
		fmt.Fprint(b, v)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
