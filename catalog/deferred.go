package catalog

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Deferred values, {"__ptype":"Deferred","name":"join","arguments":[...]}, are
// resolved at parse time, arguments first, as the agent would before applying. Only
// pure functions (and env) are supported; any other is a catalog problem.

type deferredFunc func(args []any) (any, error)

var deferredFuncs map[string]deferredFunc

func init() {
	deferredFuncs = map[string]deferredFunc{
		"sprintf":        fnSprintf,
		"join":           fnJoin,
		"split":          fnSplit,
		"upcase":         stringMapper("upcase", strings.ToUpper, true),
		"downcase":       stringMapper("downcase", strings.ToLower, true),
		"capitalize":     stringMapper("capitalize", capitalize, false),
		"strip":          stringMapper("strip", func(s string) string { return strings.Trim(s, rubySpace) }, false),
		"lstrip":         stringMapper("lstrip", func(s string) string { return strings.TrimLeft(s, rubySpace) }, false),
		"rstrip":         stringMapper("rstrip", func(s string) string { return strings.TrimRight(s, rubySpace) }, false),
		"chomp":          stringMapper("chomp", chomp, false),
		"size":           fnLength,
		"length":         fnLength,
		"keys":           fnKeys,
		"values":         fnValues,
		"env":            fnEnv,
		"getenv":         fnEnv,
		"stdlib::getenv": fnEnv,
	}
}

const rubySpace = "\x00\t\n\v\f\r "

func (c *converter) deferred(m map[string]any) (any, bool) {
	name, _ := m["name"].(string)
	if name == "" {
		c.fail("Deferred without a function name")
		return nil, false
	}
	var args []any
	switch a := m["arguments"].(type) {
	case nil:
	case []any:
		v, ok := c.value(a)
		if !ok {
			return nil, false
		}
		args = v.([]any)
	default:
		c.fail("Deferred function %q: arguments is not an array", name)
		return nil, false
	}
	fn := deferredFuncs[name]
	if fn == nil {
		c.fail("cannot resolve Deferred function %q: not supported", name)
		return nil, false
	}
	v, err := fn(args)
	if err != nil {
		c.fail("Deferred function %q: %v", name, err)
		return nil, false
	}
	return v, true
}

func wantArgs(args []any, min, max int) error {
	if len(args) < min || len(args) > max {
		if min == max {
			return fmt.Errorf("expects %d arguments, got %d", min, len(args))
		}
		return fmt.Errorf("expects %d to %d arguments, got %d", min, max, len(args))
	}
	return nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "Undef"
	case string:
		return "String"
	case json.Number:
		return "Numeric"
	case bool:
		return "Boolean"
	case []any:
		return "Array"
	case map[string]any:
		return "Hash"
	case Sensitive:
		return "Sensitive"
	case Default:
		return "Default"
	case Typed:
		return v.(Typed).Type
	}
	return fmt.Sprintf("%T", v)
}

func number(n int) json.Number { return json.Number(strconv.Itoa(n)) }

// fnJoin is join(Array arg, String delimiter): Ruby's Array#join, which
// flattens nested arrays; the delimiter defaults to the empty string.
func fnJoin(args []any) (any, error) {
	if err := wantArgs(args, 1, 2); err != nil {
		return nil, err
	}
	arr, ok := args[0].([]any)
	if !ok {
		return nil, fmt.Errorf("expects an Array, got %s", kindOf(args[0]))
	}
	delim := ""
	if len(args) == 2 {
		if delim, ok = args[1].(string); !ok {
			return nil, fmt.Errorf("expects a String delimiter, got %s", kindOf(args[1]))
		}
	}
	var b strings.Builder
	first := true
	var walk func([]any)
	walk = func(a []any) {
		for _, e := range a {
			if sub, isArr := e.([]any); isArr {
				walk(sub)
				continue
			}
			if !first {
				b.WriteString(delim)
			}
			first = false
			b.WriteString(rubyString(e))
		}
	}
	walk(arr)
	return b.String(), nil
}

// fnSplit is split(String str, String|Regexp pattern): the pattern is a regular
// expression; as in Ruby, trailing empty fields are dropped.
func fnSplit(args []any) (any, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("expects a String, got %s", kindOf(args[0]))
	}
	var pattern string
	switch p := args[1].(type) {
	case string:
		pattern = p
	case Typed:
		if p.Type != "Regexp" {
			return nil, fmt.Errorf("expects a String or Regexp pattern, got %s", p.Type)
		}
		pattern = p.String()
	default:
		return nil, fmt.Errorf("expects a String or Regexp pattern, got %s", kindOf(args[1]))
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	parts := re.Split(s, -1)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

// stringMapper builds upcase, strip and their kin: numbers pass through, strings are
// mapped, and so are the strings in an array (and, if deep, nested arrays and hashes).
func stringMapper(name string, f func(string) string, deep bool) deferredFunc {
	var apply func(v any, top bool) (any, error)
	apply = func(v any, top bool) (any, error) {
		switch v := v.(type) {
		case string:
			return f(v), nil
		case json.Number:
			return v, nil
		case []any:
			if !top && !deep {
				break
			}
			out := make([]any, len(v))
			for i, e := range v {
				ne, err := apply(e, false)
				if err != nil {
					return nil, err
				}
				out[i] = ne
			}
			return out, nil
		case map[string]any:
			if !deep {
				break
			}
			out := make(map[string]any, len(v))
			for k, e := range v {
				ne, err := apply(e, false)
				if err != nil {
					return nil, err
				}
				out[f(k)] = ne
			}
			return out, nil
		}
		if !top && !deep {
			// Iterable[Variant[String, Numeric]]: other elements are rejected by Puppet.
			return nil, fmt.Errorf("expects String or Numeric elements, got %s", kindOf(v))
		}
		return nil, fmt.Errorf("expects a String, Numeric or Array, got %s", kindOf(v))
	}
	return func(args []any) (any, error) {
		if err := wantArgs(args, 1, 1); err != nil {
			return nil, err
		}
		return apply(args[0], true)
	}
}

// capitalize is Ruby's String#capitalize: first character upper case, the rest lower.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return strings.ToUpper(string(r)) + strings.ToLower(s[n:])
}

// chomp is Ruby's String#chomp: drop one trailing "\r\n", "\n" or "\r".
func chomp(s string) string {
	switch {
	case strings.HasSuffix(s, "\r\n"):
		return s[:len(s)-2]
	case strings.HasSuffix(s, "\n"), strings.HasSuffix(s, "\r"):
		return s[:len(s)-1]
	}
	return s
}

func fnLength(args []any) (any, error) {
	if err := wantArgs(args, 1, 1); err != nil {
		return nil, err
	}
	switch v := args[0].(type) {
	case string:
		return number(utf8.RuneCountInString(v)), nil
	case []any:
		return number(len(v)), nil
	case map[string]any:
		return number(len(v)), nil
	case Typed:
		if v.Type == "Binary" {
			return number(len(decodeBase64(v.String()))), nil
		}
	}
	return nil, fmt.Errorf("expects a String, Array, Hash or Binary, got %s", kindOf(args[0]))
}

// fnKeys and fnValues return the hash's entries in key order: Go maps do not keep
// Puppet's insertion order.
func fnKeys(args []any) (any, error) {
	h, err := hashArg(args)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(h))
	for _, k := range sortedKeys(h) {
		out = append(out, k)
	}
	return out, nil
}

func fnValues(args []any) (any, error) {
	h, err := hashArg(args)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(h))
	for _, k := range sortedKeys(h) {
		out = append(out, h[k])
	}
	return out, nil
}

func hashArg(args []any) (map[string]any, error) {
	if err := wantArgs(args, 1, 1); err != nil {
		return nil, err
	}
	h, ok := args[0].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expects a Hash, got %s", kindOf(args[0]))
	}
	return h, nil
}

// fnEnv is env(name) / stdlib::getenv(name): the variable's value in this process,
// undef when it is not set.
func fnEnv(args []any) (any, error) {
	if err := wantArgs(args, 1, 1); err != nil {
		return nil, err
	}
	name, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("expects a String, got %s", kindOf(args[0]))
	}
	if v, set := os.LookupEnv(name); set {
		return v, nil
	}
	return nil, nil
}

// fnSprintf is Ruby's sprintf for the common verbs: %s %d %i %u %f %e %E %g %G %x %X
// %o %b %c %%, with flags "-+ 0#", width and precision.
func fnSprintf(args []any) (any, error) {
	if len(args) == 0 {
		return nil, errors.New("expects at least 1 argument, got 0")
	}
	format, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("expects a String format, got %s", kindOf(args[0]))
	}
	args = args[1:]
	var b strings.Builder
	next := 0
	for i := 0; i < len(format); i++ {
		ch := format[i]
		if ch != '%' {
			b.WriteByte(ch)
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("-+ 0#", format[j]) >= 0 {
			j++
		}
		for j < len(format) && format[j] >= '0' && format[j] <= '9' {
			j++
		}
		if j < len(format) && format[j] == '.' {
			j++
			for j < len(format) && format[j] >= '0' && format[j] <= '9' {
				j++
			}
		}
		if j >= len(format) {
			return nil, fmt.Errorf("format %q: incomplete format specifier", format)
		}
		spec, verb := format[i:j], format[j]
		i = j
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if strings.IndexByte("sdiufeEgGxXobc", verb) < 0 {
			return nil, fmt.Errorf("format %q: unsupported verb %%%c", format, verb)
		}
		if next >= len(args) {
			return nil, fmt.Errorf("format %q: too few arguments", format)
		}
		arg := args[next]
		next++
		var (
			goArg any
			err   error
		)
		switch verb {
		case 's':
			goArg = rubyString(arg)
		case 'd', 'i', 'u':
			verb = 'd'
			goArg, err = RubyInteger(arg)
		case 'x', 'X', 'o', 'b':
			goArg, err = RubyInteger(arg)
		case 'f', 'e', 'E', 'g', 'G':
			goArg, err = rubyFloat(arg)
		case 'c':
			switch a := arg.(type) {
			case string:
				r, _ := utf8.DecodeRuneInString(a)
				goArg = r
			default:
				var n *big.Int
				if n, err = RubyInteger(arg); err == nil {
					goArg = rune(n.Int64())
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("format %q: %s: %w", format, spec+string(verb), err)
		}
		fmt.Fprintf(&b, spec+string(verb), goArg)
	}
	return b.String(), nil
}

// RubyInteger converts as Ruby's Integer() does (for sprintf, and for the types
// whose munge calls it): floats are truncated, strings are parsed with their
// 0x/0o/0b prefix, a leading 0 is octal, underscores may separate digits.
func RubyInteger(v any) (*big.Int, error) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = strings.TrimSpace(v)
	case nil:
		return nil, errors.New("can't convert nil into Integer")
	default:
		return nil, fmt.Errorf("can't convert %s into Integer", kindOf(v))
	}
	n, ok := new(big.Int).SetString(s, 0)
	if ok {
		return n, nil
	}
	if _, isNum := v.(json.Number); isNum {
		f, err := strconv.ParseFloat(s, 64)
		if err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			n, _ = new(big.Float).SetFloat64(f).Int(nil)
			return n, nil
		}
	}
	return nil, fmt.Errorf("invalid value for Integer(): %q", s)
}

func rubyFloat(v any) (float64, error) {
	switch v := v.(type) {
	case json.Number:
		return strconv.ParseFloat(string(v), 64)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("invalid value for Float(): %q", v)
		}
		return f, nil
	}
	return 0, fmt.Errorf("can't convert %s into Float", kindOf(v))
}

// decodeBase64 decodes a Binary's __pvalue (strict or unpadded base64).
func decodeBase64(s string) []byte {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b
	}
	b, _ := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	return b
}
