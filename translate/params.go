package translate

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
)

// metaparams are handled by translate itself for every type.
var metaparams = map[string]bool{
	"require": true, "before": true, "notify": true, "subscribe": true,
	"alias": true, "tag": true, "noop": true, "schedule": true, "audit": true,
	"loglevel": true, "stage": true,
}

// Params reads one resource's parameters with Puppet's coercions. Every problem is
// recorded as an error naming the resource and the parameter; the getters then return
// the default, so a builder can read everything and let the caller report all problems.
type Params struct {
	res *catalog.Resource
	// used lists the parameters read: a handful per resource, where a map each
	// took 66 MB for 100,000 resources. Once the resource is built, Unused has
	// been asked and reads are no longer recorded (settled).
	used        []string
	settled     bool
	errs        []error
	unsupported []string
}

func newParams(r *catalog.Resource) *Params {
	return &Params{res: r}
}

// Resource is the catalog resource being read.
func (p *Params) Resource() *catalog.Resource { return p.res }

// Title is the resource's title.
func (p *Params) Title() string { return p.res.Title }

// Errorf records a problem with parameter name.
func (p *Params) Errorf(name, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: parameter %s: %s", p.res.Ref(), name, fmt.Sprintf(format, args...)))
}

// Unsupportedf records that parameter name has a value Puppet accepts and the
// native type does not implement yet: the resource is then handed to Puppet when it
// is installed, and is a problem otherwise.
func (p *Params) Unsupportedf(name, format string, args ...any) {
	p.unsupported = append(p.unsupported, fmt.Sprintf("parameter %s: %s", name, fmt.Sprintf(format, args...)))
}

// Unsupported lists what Unsupportedf recorded.
func (p *Params) Unsupported() []string { return p.unsupported }

// Raw returns the decoded value of name with Sensitive unwrapped, and whether it is set
// (nil and `undef` count as unset).
func (p *Params) Raw(name string) (any, bool) {
	v, ok := p.res.Parameters[name]
	if !ok {
		return nil, false // Unused looks only at parameters set: nothing to record
	}
	if !p.settled && !slices.Contains(p.used, name) {
		p.used = append(p.used, name)
	}
	if v == nil {
		return nil, false
	}
	if s, ok := v.(catalog.Sensitive); ok {
		v = s.Value
	}
	if _, ok := v.(catalog.Default); ok {
		return nil, false
	}
	return v, true
}

// Has reports whether name is set.
func (p *Params) Has(name string) bool {
	_, ok := p.Raw(name)
	return ok
}

// Sensitive reports whether name's value must be redacted from logs.
func (p *Params) Sensitive(name string) bool {
	if p.res.IsSensitive(name) {
		return true
	}
	_, ok := p.res.Parameters[name].(catalog.Sensitive)
	return ok
}

// Namevar returns the value of the namevar name, which defaults to the title.
func (p *Params) Namevar(name string) string {
	if s, ok := p.OptString(name); ok {
		return s
	}
	return p.res.Title
}

// OptString returns name as a string, and whether it was set. Numbers are accepted and
// printed as Puppet prints them.
func (p *Params) OptString(name string) (string, bool) {
	v, ok := p.Raw(name)
	if !ok {
		return "", false
	}
	s, ok := scalarString(v)
	if !ok {
		p.Errorf(name, "want a string, got %s", describe(v))
		return "", false
	}
	return s, true
}

// String returns name as a string, or def when unset.
func (p *Params) String(name, def string) string {
	if s, ok := p.OptString(name); ok {
		return s
	}
	return def
}

// Enum returns name, which must be one of allowed, or def when unset.
func (p *Params) Enum(name, def string, allowed ...string) string {
	s, ok := p.OptString(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	p.Errorf(name, "invalid value %q, want one of %s", s, strings.Join(allowed, ", "))
	return def
}

// Bool returns name as a bool ("true"/"false" strings accepted), or def when unset.
func (p *Params) Bool(name string, def bool) bool {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	switch b := v.(type) {
	case bool:
		return b
	case string:
		switch strings.ToLower(b) {
		case "true", "yes":
			return true
		case "false", "no":
			return false
		}
	}
	p.Errorf(name, "want true or false, got %s", describe(v))
	return def
}

// Int returns name as an integer, or def when unset.
func (p *Params) Int(name string, def int) int {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	s, ok := scalarString(v)
	if ok {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
			return n
		}
	}
	p.Errorf(name, "want an integer, got %s", describe(v))
	return def
}

// RubyInt returns name as a type's munge with Ruby's Integer() reads it ("010" is
// 8, "0x10" 16, 5.9 is 5), or def when unset.
func (p *Params) RubyInt(name string, def int) int {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	n, err := catalog.RubyInteger(v)
	if err != nil || !n.IsInt64() || n.Int64() != int64(int(n.Int64())) {
		if err == nil {
			err = fmt.Errorf("%s is out of range", n)
		}
		p.Errorf(name, "%v", err)
		return def
	}
	return int(n.Int64())
}

// Settings returns name, a hash of strings, as K=V settings in the order of its
// keys; nil when unset.
func (p *Params) Settings(name string) []string {
	v, ok := p.Raw(name)
	if !ok {
		return nil
	}
	settings, isHash := v.(map[string]any)
	if !isHash {
		p.Errorf(name, "want a hash, got %s", describe(v))
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		s, ok := scalarString(settings[k])
		if !ok {
			p.Errorf(name, "%s: want a string, got %s", k, describe(settings[k]))
			continue
		}
		out = append(out, k+"="+s)
	}
	return out
}

// Float returns name as a number, or def when unset.
func (p *Params) Float(name string, def float64) float64 {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	s, ok := scalarString(v)
	if ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return f
		}
	}
	p.Errorf(name, "want a number, got %s", describe(v))
	return def
}

// Strings returns name as a list of strings: a single value becomes a list of one.
func (p *Params) Strings(name string) []string {
	v, ok := p.Raw(name)
	if !ok {
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(catalog.Sensitive); ok {
			e = s.Value
		}
		s, ok := scalarString(e)
		if !ok {
			p.Errorf(name, "want a string or a list of strings, got %s", describe(e))
			return nil
		}
		out = append(out, s)
	}
	return out
}

// Unused lists the parameters set in the catalog that nobody read, metaparameters
// and the ignorable ones excepted, sorted.
func (p *Params) Unused(ignorable ...string) []string {
	var out []string
	for name, v := range p.res.Parameters {
		if slices.Contains(p.used, name) || metaparams[name] || v == nil {
			continue
		}
		skip := false
		for _, i := range ignorable {
			if i == name {
				skip = true
				break
			}
		}
		if !skip {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// settle stops recording reads and hands back the list of those made, for the
// next resource's to reuse.
func (p *Params) settle() []string {
	used := p.used[:0]
	p.used, p.settled = nil, true
	return used
}

// Err returns the problems recorded so far, nil when there were none.
func (p *Params) Errs() []error { return p.errs }

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

func describe(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "a hash"
	case bool:
		return fmt.Sprintf("%v", v)
	}
	if s, ok := scalarString(v); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%T", v)
}
