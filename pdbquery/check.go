package pdbquery

import (
	"encoding/json"
	"fmt"
)

// CheckCatalog refuses, when the command arrives, a replace_catalog payload that
// the queries could not read later: one bad catalog must not break the answers
// about every node.
func CheckCatalog(payload json.RawMessage) error {
	var p catalogPayload
	if err := decode(payload, &p); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	return nil
}

// CheckReport does the same for a store_report payload.
func CheckReport(payload json.RawMessage) error {
	var p reportPayload
	if err := decode(payload, &p); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// CheckFacts does the same for the values of a replace_facts payload: an object.
func CheckFacts(values json.RawMessage) error {
	var v map[string]any
	if err := decode(values, &v); err != nil || v == nil {
		return fmt.Errorf("values: want an object of facts")
	}
	return nil
}
