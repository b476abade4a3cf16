package translate

import "github.com/mgmt-puppet/mgmt-puppet/engine"

// Native describes how one Puppet type becomes a native resource.
type Native struct {
	// Namevar is the parameter that names the resource ("path", "command", "name");
	// a reference may use its value instead of the title.
	Namevar string
	// Canonical normalises a namevar value so that equal names compare equal (File
	// strips trailing slashes). Nil means identity.
	Canonical func(string) string
	// Build reads the parameters and returns the resource; problems go to p.Errorf.
	Build func(p *Params) engine.Resource
	// Autorequire lists groups of references (File[/etc]); of each group the first
	// reference that names a resource in the catalog becomes a dependency, the others
	// are ignored (File needs only its nearest managed parent). References to
	// resources that are not in the catalog are ignored.
	Autorequire func(p *Params) [][]Ref
	// Consumable: nothing reads the parameters of a resource of this type once it
	// is built and its autorequires are edges (Options.Consume).
	Consumable bool
	// Ignorable lists parameters that may be set but change nothing here.
	Ignorable []string
	// NotUnique: two resources may share a namevar value (Exec's command).
	NotUnique bool
	// Together: resources of this type work only with others of the catalog
	// (Concat_fragment and Concat_file), so one of them cannot be handed to Puppet
	// alone when it uses a parameter not supported natively yet.
	Together bool
	// Redactable lists the parameters whose values Puppet can redact from logs (its
	// properties). A Sensitive value for any other parameter gets Puppet's warning
	// that it cannot be redacted.
	Redactable []string
	// Suitable, when set, is the confine of Puppet's provider on this host: when it
	// says no and Puppet is there, Puppet runs the type's resources, so that they
	// fail as Puppet fails them ("Could not find a suitable provider").
	Suitable func() bool
}

// natives maps a Puppet type name ("File") to its native translation. Each type's file
// registers itself in an init function.
var natives = map[string]*Native{}

// Ref is a reference to a resource, Type[Title], kept in two parts so that a
// lookup builds no string.
type Ref struct{ Type, Title string }

func (r Ref) String() string { return r.Type + "[" + r.Title + "]" }

func register(typ string, n Native) { natives[typ] = &n }
