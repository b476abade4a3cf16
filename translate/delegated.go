package translate

import (
	"fmt"
	"sort"
	"strings"
)

func (t *translation) forcedDelegate(typ string) bool {
	if t.opts.Delegate == nil {
		return false
	}
	for _, d := range t.opts.DelegateTypes {
		if strings.EqualFold(d, typ) {
			return true
		}
	}
	return false
}

// checkDelegated reports, per type, the resources that nothing can run: types with
// no native implementation when Puppet is not there to run them, or types that
// neither Puppet nor a module on the module path defines.
func (t *translation) checkDelegated() {
	byType := map[string][]string{}
	var delegated []string
	for _, it := range t.resources {
		switch {
		case it.delegated:
			if _, seen := byType[it.r.Type]; !seen {
				delegated = append(delegated, it.r.Type)
			}
			byType[it.r.Type] = append(byType[it.r.Type], it.r.Ref())
		case it.native == nil && !it.container:
			byType[it.r.Type] = append(byType[it.r.Type], it.r.Ref())
		}
	}
	refs := func(typ string) string {
		r := byType[typ]
		if len(r) > 3 {
			return fmt.Sprintf("%s and %d more", strings.Join(r[:3], ", "), len(r)-3)
		}
		return strings.Join(r, ", ")
	}
	if t.opts.Delegate == nil {
		types := make([]string, 0, len(byType))
		for typ := range byType {
			types = append(types, typ)
		}
		sort.Strings(types)
		for _, typ := range types {
			t.problem("type %s has no native implementation, and Puppet, which would run it, is not installed (%s)", typ, refs(typ))
		}
		return
	}
	for _, typ := range t.opts.Delegate.Unknown(t.cat.Environment, delegated) {
		t.problem("type %s is unknown: neither Puppet nor a module on the module path defines it (%s)", typ, refs(typ))
	}
}

// delegateNative hands a resource of a native type to Puppet, because it uses
// parameters the native type does not have yet.
func (t *translation) delegateNative(it *item, reasons []string) {
	it.native, it.delegated = nil, true
	if stat := t.stats[it.r.Type]; stat != nil {
		stat.Native--
		stat.Delegated++
	}
	t.warnings = append(t.warnings, fmt.Sprintf("%s: %s not supported natively yet: Puppet runs this resource",
		it.r.Ref(), strings.Join(reasons, "; ")))
}
