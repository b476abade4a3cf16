package puppetdb

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/exported"
	"github.com/mgmt-puppet/mgmt-puppet/pdbquery"
)

// command is a decoded, validated command, ready to be stored.
type command struct {
	name  string
	store func(ctx context.Context, s exported.Store) error
}

// commandEnvelope is the older form of a command: everything in the body.
type commandEnvelope struct {
	Command string          `json:"command"`
	Version int             `json:"version"`
	Payload json.RawMessage `json:"payload"`
}

// decodeCommand reads POST /pdb/cmd/v1: ?command=NAME&version=N&certname=C with the
// bare payload as body (what the terminus sends), or the whole command in the body.
// Its errors are the client's (HTTP 400) and say what is wrong.
func decodeCommand(query url.Values, body []byte) (*command, error) {
	name, payload := query.Get("command"), json.RawMessage(body)
	if name == "" {
		var env commandEnvelope
		if err := json.Unmarshal(body, &env); err != nil || env.Command == "" {
			return nil, errors.New("no command: want ?command=NAME or a {command, version, payload} body")
		}
		name, payload = env.Command, env.Payload
	}
	name = strings.ReplaceAll(name, " ", "_")
	c := &command{name: name}
	switch name {
	case "replace_catalog":
		var cat exported.Catalog
		if err := unmarshal(payload, &cat); err != nil {
			return nil, fmt.Errorf("replace_catalog: %w", err)
		}
		if err := checkCatalog(&cat); err != nil {
			return nil, fmt.Errorf("replace_catalog: %w", err)
		}
		if err := pdbquery.CheckCatalog(payload); err != nil {
			return nil, fmt.Errorf("replace_catalog: %w", err)
		}
		cat.Raw = payload
		c.store = func(ctx context.Context, s exported.Store) error { return s.ReplaceCatalog(ctx, &cat) }
	case "replace_facts":
		var f exported.Facts
		if err := unmarshal(payload, &f); err != nil {
			return nil, fmt.Errorf("replace_facts: %w", err)
		}
		if !exported.ValidCertname(f.Certname) {
			return nil, fmt.Errorf("replace_facts: certname %q: want a node's name (not empty, no '/')", f.Certname)
		}
		if err := pdbquery.CheckFacts(f.Values); err != nil {
			return nil, fmt.Errorf("replace_facts: %w", err)
		}
		c.store = func(ctx context.Context, s exported.Store) error { return s.ReplaceFacts(ctx, &f) }
	case "deactivate_node":
		var d struct {
			Certname          string `json:"certname"`
			ProducerTimestamp string `json:"producer_timestamp"`
		}
		if err := unmarshal(payload, &d); err != nil {
			return nil, fmt.Errorf("deactivate_node: %w", err)
		}
		if !exported.ValidCertname(d.Certname) {
			return nil, fmt.Errorf("deactivate_node: certname %q: want a node's name (not empty, no '/')", d.Certname)
		}
		at, err := time.Parse(time.RFC3339Nano, d.ProducerTimestamp)
		if err != nil {
			at = time.Now()
		}
		c.store = func(ctx context.Context, s exported.Store) error { return s.Deactivate(ctx, d.Certname, at) }
	case "store_report":
		rep, err := decodeReport(payload)
		if err != nil {
			return nil, fmt.Errorf("store_report: %w", err)
		}
		c.store = func(ctx context.Context, s exported.Store) error { return s.StoreReport(ctx, rep) }
	default:
		return nil, fmt.Errorf("unsupported command %q (supported: replace_catalog, replace_facts, store_report, deactivate_node)", name)
	}
	return c, nil
}

// unmarshal decodes a payload that must be a JSON object.
func unmarshal(payload json.RawMessage, v any) error {
	p := strings.TrimSpace(string(payload))
	if !strings.HasPrefix(p, "{") {
		return errors.New("the payload is not a JSON object")
	}
	return json.Unmarshal(payload, v)
}

// checkCatalog refuses what the store cannot keep, naming the resource and field.
func checkCatalog(c *exported.Catalog) error {
	if !exported.ValidCertname(c.Certname) {
		return fmt.Errorf("certname %q: want a node's name (not empty, no '/')", c.Certname)
	}
	seen := map[string]bool{}
	for i, r := range c.Resources {
		if !r.Exported {
			continue
		}
		if r.Type == "" || r.Title == "" {
			return fmt.Errorf("resources[%d]: an exported resource needs a type and a title (type %q, title %q)", i, r.Type, r.Title)
		}
		ref := r.Type + "[" + r.Title + "]"
		if seen[ref] {
			return fmt.Errorf("resources[%d]: %s exported twice", i, ref)
		}
		seen[ref] = true
	}
	return nil
}

// reportFields are the fields of a store_report payload (v8) the store reads.
type reportFields struct {
	Certname             string  `json:"certname"`
	Status               string  `json:"status"`
	Environment          string  `json:"environment"`
	Noop                 bool    `json:"noop"`
	NoopPending          *bool   `json:"noop_pending"`
	CorrectiveChange     *bool   `json:"corrective_change"`
	CachedCatalogStatus  *string `json:"cached_catalog_status"`
	JobID                *string `json:"job_id"`
	Type                 string  `json:"type"`
	ProducerTimestamp    string  `json:"producer_timestamp"`
	StartTime            string  `json:"start_time"`
	EndTime              string  `json:"end_time"`
	ConfigurationVersion string  `json:"configuration_version"`
	PuppetVersion        string  `json:"puppet_version"`
	ReportFormat         int     `json:"report_format"`
	TransactionUUID      string  `json:"transaction_uuid"`
}

// decodeReport reads a store_report payload; its hash is the sha1 of the fields
// PuppetDB hashes (scf/hash.clj), so that the same report sent twice is stored once.
func decodeReport(payload json.RawMessage) (*exported.Report, error) {
	var f reportFields
	if err := unmarshal(payload, &f); err != nil {
		return nil, err
	}
	if err := pdbquery.CheckReport(payload); err != nil {
		return nil, err
	}
	if !exported.ValidCertname(f.Certname) {
		return nil, fmt.Errorf("certname %q: want a node's name (not empty, no '/')", f.Certname)
	}
	times := map[string]time.Time{}
	for name, v := range map[string]string{"producer_timestamp": f.ProducerTimestamp, "start_time": f.StartTime, "end_time": f.EndTime} {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, fmt.Errorf("%s %q: want an ISO 8601 time", name, v)
		}
		times[name] = t.UTC()
	}
	switch f.Status {
	case "changed", "unchanged", "failed":
	default:
		return nil, fmt.Errorf("status %q: want changed, unchanged or failed", f.Status)
	}
	typ := f.Type
	if typ == "" {
		typ = "agent"
	}
	key, _ := json.Marshal(map[string]any{"certname": f.Certname, "configuration_version": f.ConfigurationVersion,
		"end_time": times["end_time"], "producer_timestamp": times["producer_timestamp"], "puppet_version": f.PuppetVersion,
		"report_format": f.ReportFormat, "start_time": times["start_time"], "transaction_uuid": f.TransactionUUID})
	sum := sha1.Sum(key)
	return &exported.Report{Certname: f.Certname, Hash: hex.EncodeToString(sum[:]), Type: typ, Raw: payload,
		Latest: exported.LatestReport{Status: f.Status, Environment: f.Environment, Noop: f.Noop, NoopPending: f.NoopPending,
			CorrectiveChange: f.CorrectiveChange, CachedCatalogStatus: f.CachedCatalogStatus, JobID: f.JobID,
			ProducerTimestamp: times["producer_timestamp"], EndTime: times["end_time"], Hash: hex.EncodeToString(sum[:])}}, nil
}
