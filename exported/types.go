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

// Node is what is known of a node: its last catalog, facts and report, and
// whether it was deactivated. The timestamps of catalog and facts are when they
// were received, as PuppetDB's.
type Node struct {
	Certname          string     `json:"certname"`
	Environment       string     `json:"environment,omitempty"` // of the last catalog
	CatalogUUID       string     `json:"catalog_uuid,omitempty"`
	Version           string     `json:"version,omitempty"`
	ProducerTimestamp string     `json:"producer_timestamp,omitempty"`
	Exports           int        `json:"exports"`
	Deactivated       *time.Time `json:"deactivated,omitempty"`
	Expired           *time.Time `json:"expired,omitempty"` // no command for node-ttl
	CatalogTimestamp  *time.Time `json:"catalog_timestamp,omitempty"`
	FactsTimestamp    *time.Time `json:"facts_timestamp,omitempty"`
	FactsEnvironment  string     `json:"facts_environment,omitempty"`
	// Report is the latest report: the one with the greatest producer_timestamp.
	Report *LatestReport `json:"report,omitempty"`
}

// Active says whether the node is neither deactivated nor expired.
func (n *Node) Active() bool { return n.Deactivated == nil && n.Expired == nil }

// lastSeen is when the node last sent a catalog, facts or a report.
func (n *Node) lastSeen() time.Time {
	var t time.Time
	for _, p := range []*time.Time{n.CatalogTimestamp, n.FactsTimestamp} {
		if p != nil && p.After(t) {
			t = *p
		}
	}
	if n.Report != nil && n.Report.ReceiveTime.After(t) {
		t = n.Report.ReceiveTime
	}
	return t
}

// LatestReport is what a node's entry keeps of its latest report.
type LatestReport struct {
	Hash                string    `json:"hash"`
	ProducerTimestamp   time.Time `json:"producer_timestamp"`
	EndTime             time.Time `json:"end_time"`
	Status              string    `json:"status"`
	Environment         string    `json:"environment"`
	Noop                bool      `json:"noop"`
	NoopPending         *bool     `json:"noop_pending"`
	CorrectiveChange    *bool     `json:"corrective_change"`
	CachedCatalogStatus *string   `json:"cached_catalog_status"`
	JobID               *string   `json:"job_id"`
	ReceiveTime         time.Time `json:"receive_time"`
}

// Facts are a node's facts, as replace_facts sends them.
type Facts struct {
	Certname          string          `json:"certname"`
	Environment       string          `json:"environment"`
	Values            json.RawMessage `json:"values"`
	ProducerTimestamp string          `json:"producer_timestamp,omitempty"`
	Producer          *string         `json:"producer,omitempty"`
	ReceiveTime       time.Time       `json:"receive_time"`
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
	// Raw is the whole replace_catalog payload, kept for the catalogs and
	// resources queries.
	Raw json.RawMessage `json:"-"`
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
