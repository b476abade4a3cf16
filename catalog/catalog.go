package catalog

// Catalog is one compiled catalog, as Puppet's compiler renders it.
type Catalog struct {
	Name          string     // the node's certname
	Version       string     // configuration version (a string or an int in the JSON)
	CodeID        string     // null locally
	CatalogUUID   string     // catalog_uuid
	CatalogFormat int        // catalog_format: 1 or 2
	Environment   string     // environment
	Tags          []string   // tags
	Classes       []string   // classes
	Resources     []Resource // in catalog order, the order Puppet would apply them in
	Edges         []Edge     // containment edges only
}

// Resource is one resource of a catalog, container or not.
type Resource struct {
	Type     string   // "File", "Class", "Apache::Vhost"
	Title    string   // "/etc/motd"
	Tags     []string // tags, containers' tags included by the compiler
	Exported bool     // exported (@@) resources are not applied locally
	File     string   // manifest file, when known
	Line     int      // manifest line, when known
	// Kind is compilable_type, defined_type, class or unknown; empty in format 1.
	Kind string
	// Parameters holds decoded values: string, bool, nil, json.Number, []any,
	// map[string]any, Sensitive, Default, or other rich data values. Deferred values
	// have been resolved (or the catalog was rejected).
	Parameters map[string]any
	// SensitiveParameters names top-level parameters whose values are sensitive.
	SensitiveParameters []string
}

// Ref is the resource reference "Type[title]" of r.
func (r *Resource) Ref() string { return r.Type + "[" + r.Title + "]" }

// IsSensitive reports whether the top-level parameter name is listed as sensitive.
func (r *Resource) IsSensitive(name string) bool {
	for _, s := range r.SensitiveParameters {
		if s == name {
			return true
		}
	}
	return false
}

// Edge is a containment edge: Source contains Target. Both are "Type[title]" references.
type Edge struct {
	Source string
	Target string
}

// Sensitive wraps a value that must never be logged; rich_data_json encodes it as
// {"__ptype":"Sensitive","__pvalue":...}.
type Sensitive struct{ Value any }

// String never reveals the value.
func (Sensitive) String() string { return "[redacted]" }

// Default is Puppet's `default` literal.
type Default struct{}
