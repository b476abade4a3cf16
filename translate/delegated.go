package translate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/delegate"
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

// datacatTargets hands to Puppet the resources whose parameter a datacat_collector
// sets while Puppet runs (its target_resource): only in the collector's own Puppet
// run can the collector reach them. Called once the resources are classified.
func (t *translation) datacatTargets() {
	if t.opts.Delegate == nil {
		return
	}
	for _, it := range t.resources {
		if it.r.Type != "Datacat_collector" || !it.delegated {
			continue
		}
		target, _ := it.r.Parameters["target_resource"].(string)
		tr, ok := t.lookup(target)
		if !ok || tr.container || tr.delegated {
			continue
		}
		if tr.native != nil {
			if stat := t.stats[tr.r.Type]; stat != nil {
				stat.Native--
				stat.Delegated++
			}
		}
		// Nothing to warn of: Puppet applies it as it would anyway (translate
		// lists it as run by Puppet).
		tr.native, tr.delegated = nil, true
	}
}

// datacatRiders makes each datacat_collector's target ride in the collector's
// Puppet run, and gives the collector the catalog's fragments to read (as
// companions, in noop): Puppet's collector reads them from its catalog.
func (t *translation) datacatRiders() {
	if t.opts.Delegate == nil {
		return
	}
	var fragments []*catalog.Resource
	for _, it := range t.resources {
		if it.r.Type == "Datacat_fragment" {
			fragments = append(fragments, it.r)
		}
	}
	for _, it := range t.resources {
		col, ok := it.res().(*delegate.Resource)
		if it.r.Type != "Datacat_collector" || !ok {
			continue
		}
		col.SetCompanions(fragments)
		target, _ := it.r.Parameters["target_resource"].(string)
		if tr, ok := t.lookup(target); ok {
			if rider, ok := tr.res().(*delegate.Resource); ok {
				col.SetRiders([]*delegate.Resource{rider})
			}
		}
	}
}
