package exported

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Resource is one exported resource, in the form PuppetDB's /pdb/query/v4/resources
// answers with.
type Resource struct {
	Certname    string         `json:"certname"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Tags        []string       `json:"tags"`
	File        *string        `json:"file"`
	Line        *int           `json:"line"`
	Resource    string         `json:"resource"` // sha1 of type and title, PuppetDB's id
	Environment string         `json:"environment"`
	Exported    bool           `json:"exported"`
	Parameters  map[string]any `json:"parameters"`
}

// Ref is "Type[title]".
func (r *Resource) Ref() string { return r.Type + "[" + r.Title + "]" }

// resourceHash is PuppetDB's resource id: the sha1 of the type and title.
func resourceHash(typ, title string) string {
	sum := sha1.Sum([]byte(typ + "[" + title + "]"))
	return hex.EncodeToString(sum[:])
}

// Node is what is known of a node: its last catalog, and whether it was deactivated.
type Node struct {
	Certname          string     `json:"certname"`
	Environment       string     `json:"environment,omitempty"`
	CatalogUUID       string     `json:"catalog_uuid,omitempty"`
	Version           string     `json:"version,omitempty"`
	ProducerTimestamp string     `json:"producer_timestamp,omitempty"`
	Exports           int        `json:"exports"`
	Deactivated       *time.Time `json:"deactivated,omitempty"`
	LastReport        string     `json:"last_report_status,omitempty"`
}

// Facts are a node's facts, as replace_facts sends them.
type Facts struct {
	Certname          string          `json:"certname"`
	Environment       string          `json:"environment"`
	Values            json.RawMessage `json:"values"`
	ProducerTimestamp string          `json:"producer_timestamp,omitempty"`
}

// Collector is a query a node collected with: the server learns who collects what.
type Collector struct {
	Certname string          `json:"certname"`
	Query    json.RawMessage `json:"query"`
	Time     time.Time       `json:"time"`
}

// Catalog is the part of a replace_catalog command the store keeps.
type Catalog struct {
	Certname          string            `json:"certname"`
	Version           json.RawMessage   `json:"version"`
	CatalogUUID       string            `json:"catalog_uuid"`
	Environment       string            `json:"environment"`
	ProducerTimestamp string            `json:"producer_timestamp"`
	Resources         []CatalogResource `json:"resources"`
}

// CatalogResource is a resource of a replace_catalog command.
type CatalogResource struct {
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Tags       []string       `json:"tags"`
	File       *string        `json:"file"`
	Line       *int           `json:"line"`
	Exported   bool           `json:"exported"`
	Parameters map[string]any `json:"parameters"`
}
