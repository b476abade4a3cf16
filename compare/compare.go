package compare

import (
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// State is what one report says about each resource, by reference ("File[/x]").
type State map[string]Resource

// Resource is one resource's status.
type Resource struct {
	Skipped, Failed bool
	// FailedDeps are the failed dependencies a skipped resource names in its
	// "Dependency X has failures: true" lines (none when what it depends on was
	// itself skipped).
	FailedDeps []string
	// Changes are the properties out of sync, with what would change.
	Changes map[string]Change
}

// Change is one property's event.
type Change struct {
	Previous, Desired string // as Puppet prints values
	Status            string // noop, success or failure
	Message           string
}

// ReadReport reads a report in Puppet's YAML or JSON form.
func ReadReport(r io.Reader) (State, error) {
	var rep struct {
		Statuses map[string]struct {
			Skipped bool `yaml:"skipped"`
			Failed  bool `yaml:"failed"`
			Events  []struct {
				Property string `yaml:"property"`
				Previous any    `yaml:"previous_value"`
				Desired  any    `yaml:"desired_value"`
				Status   string `yaml:"status"`
				Message  string `yaml:"message"`
			} `yaml:"events"`
		} `yaml:"resource_statuses"`
		Logs []struct {
			Source  string `yaml:"source"`
			Message string `yaml:"message"`
		} `yaml:"logs"`
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(data, &rep); err != nil { // JSON is YAML too
		return nil, fmt.Errorf("not a report: %w", err)
	}
	if rep.Statuses == nil {
		return nil, fmt.Errorf("not a report: no resource_statuses")
	}
	s := State{}
	for ref, st := range rep.Statuses {
		res := Resource{Skipped: st.Skipped, Failed: st.Failed, Changes: map[string]Change{}}
		for _, ev := range st.Events {
			if ev.Property == "" { // a refresh, or an error not tied to a property
				continue
			}
			c := Change{Previous: ShowValue(ev.Previous), Desired: ShowValue(ev.Desired), Status: ev.Status, Message: ev.Message}
			if ev.Property == "content" {
				c.Desired = digest(c.Desired)
			}
			res.Changes[ev.Property] = c
		}
		s[ref] = res
	}
	for _, l := range rep.Logs {
		dep, ok := strings.CutPrefix(l.Message, "Dependency ")
		if dep, ok = strings.CutSuffix(dep, " has failures: true"); !ok {
			continue
		}
		if ref := resourceOf(s, l.Source); ref != "" {
			res := s[ref]
			res.FailedDeps = append(res.FailedDeps, dep)
			s[ref] = res
		}
	}
	return s, nil
}

// resourceOf finds the resource a log line's source names: its path ends with the
// reference ("/Stage[main]/Main/Anchor[x]"); titles may hold slashes.
func resourceOf(s State, source string) string {
	for ref := range s {
		if source == ref || strings.HasSuffix(source, "/"+ref) {
			return ref
		}
	}
	return ""
}

// ShowValue prints a report value as Puppet's log lines do: a list as ['a', 'b'].
func ShowValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = "'" + fmt.Sprint(e) + "'"
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// digest undoes Puppet's habit of writing a content change's desired digest as
// base64 in reports.
func digest(s string) string {
	if strings.HasPrefix(s, "{") {
		return s
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && strings.HasPrefix(string(b), "{") {
		return string(b)
	}
	return s
}

// Difference is one resource, or one of its properties, on which the two
// reports disagree; A and B say what each report says.
type Difference struct {
	Resource string `json:"resource"`
	Property string `json:"property,omitempty"`
	A        string `json:"puppet"`
	B        string `json:"mgmt_puppet"`
}

func (d Difference) String() string {
	where := d.Resource
	if d.Property != "" {
		where += "/" + d.Property
	}
	return fmt.Sprintf("%s: puppet: %s; mgmt-puppet: %s", where, d.A, d.B)
}

// Diff lists where b disagrees with a, sorted by resource and property.
func Diff(a, b State) []Difference {
	var out []Difference
	for _, ref := range refs(a, b) {
		ra, inA := a[ref]
		rb, inB := b[ref]
		switch {
		case !inA:
			out = append(out, Difference{Resource: ref, A: notInReport, B: summary(rb)})
			continue
		case !inB:
			out = append(out, Difference{Resource: ref, A: summary(ra), B: notInReport})
			continue
		case ra.Skipped != rb.Skipped || ra.Failed != rb.Failed:
			out = append(out, Difference{Resource: ref, A: summary(ra), B: summary(rb)})
			continue
		}
		props := map[string]bool{}
		for p := range ra.Changes {
			props[p] = true
		}
		for p := range rb.Changes {
			props[p] = true
		}
		for _, p := range sorted(props) {
			ca, okA := ra.Changes[p]
			cb, okB := rb.Changes[p]
			if okA == okB && ca.Previous == cb.Previous && ca.Desired == cb.Desired && ca.Status == cb.Status {
				if ca.Status != "noop" || ca.Message == cb.Message {
					continue
				}
				// The same event, printed otherwise: in noop the line is all
				// there is to read.
				out = append(out, Difference{Resource: ref, Property: p,
					A: fmt.Sprintf("%s (%q)", change(ca, okA), ca.Message), B: fmt.Sprintf("%s (%q)", change(cb, okB), cb.Message)})
				continue
			}
			out = append(out, Difference{Resource: ref, Property: p, A: change(ca, okA), B: change(cb, okB)})
		}
	}
	return out
}

// Counts says how many resources the two reports hold together, and how many of
// them at least one report finds out of sync.
func Counts(a, b State) (resources, outOfSync int) {
	for _, ref := range refs(a, b) {
		resources++
		if len(a[ref].Changes) > 0 || len(b[ref].Changes) > 0 {
			outOfSync++
		}
	}
	return resources, outOfSync
}

func summary(r Resource) string {
	switch {
	case r.Failed:
		return "failed"
	case r.Skipped && len(r.FailedDeps) > 0:
		return "skipped (dependency " + strings.Join(r.FailedDeps, ", ") + " failed)"
	case r.Skipped:
		return "skipped"
	case len(r.Changes) == 0:
		return "in sync"
	}
	if len(r.Changes) == 1 {
		return "1 property out of sync"
	}
	return fmt.Sprintf("%d properties out of sync", len(r.Changes))
}

func change(c Change, ok bool) string {
	if !ok {
		return "in sync"
	}
	s := fmt.Sprintf("would change %s to %s", quote(c.Previous), quote(c.Desired))
	if c.Status != "noop" {
		s += " (" + c.Status + ")"
	}
	return s
}

func quote(s string) string {
	if strings.HasPrefix(s, "[") {
		return s
	}
	return "'" + s + "'"
}

func refs(a, b State) []string {
	all := map[string]bool{}
	for r := range a {
		all[r] = true
	}
	for r := range b {
		all[r] = true
	}
	return sorted(all)
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// notInReport is what a Difference says of a resource one report lacks.
const notInReport = "not in the report"

// WithoutGenerated drops the differences that say a resource under one of roots
// is in Puppet's report only: the files a recursing File or a Tidy generates, which
// Puppet reports as resources of their own and mgmt-puppet logs as lines of the
// resource that generates them (docs/known-differences.md, File recursion).
func WithoutGenerated(ds []Difference, roots []string) []Difference {
	var out []Difference
next:
	for _, d := range ds {
		if d.B == notInReport {
			if p, ok := strings.CutPrefix(d.Resource, "File["); ok {
				p = strings.TrimSuffix(p, "]")
				for _, r := range roots {
					if strings.HasPrefix(p, strings.TrimSuffix(r, "/")+"/") {
						continue next
					}
				}
			}
		}
		out = append(out, d)
	}
	return out
}

// Roots are the paths of the Files and Tidies of a report: the roots under which
// the resources Puppet generates (recursion, tidying) are found.
func Roots(s State) []string {
	var out []string
	for ref := range s {
		for _, typ := range []string{"File[", "Tidy["} {
			if p, ok := strings.CutPrefix(ref, typ); ok {
				out = append(out, strings.TrimSuffix(p, "]"))
			}
		}
	}
	sort.Strings(out)
	return out
}

// AgentDefault says whether ref is one of the resources Puppet's agent adds to
// every catalog it applies (Puppet::Type::Schedule.mkdefaultschedules and the
// default filebucket): they are in its reports, with nothing to sync.
func AgentDefault(ref string) bool {
	switch ref {
	case "Schedule[puppet]", "Schedule[hourly]", "Schedule[daily]", "Schedule[weekly]", "Schedule[monthly]", "Schedule[never]",
		"Filebucket[puppet]":
		return true
	}
	return false
}
