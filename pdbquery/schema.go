package pdbquery

func fields(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// schema lists the queryable fields of each entity, as PuppetDB 7 names them.
var schema = map[string]map[string]bool{
	"nodes": fields("certname", "deactivated", "expired", "catalog_timestamp", "facts_timestamp", "report_timestamp",
		"catalog_environment", "facts_environment", "report_environment", "latest_report_status", "latest_report_hash",
		"latest_report_noop", "latest_report_noop_pending", "latest_report_corrective_change", "latest_report_job_id",
		"cached_catalog_status"),
	"facts":        fields("certname", "environment", "name", "value"),
	"fact_names":   fields("name"),
	"inventory":    fields("certname", "timestamp", "environment", "facts", "trusted"),
	"environments": fields("name"),
	"resources":    fields("certname", "resource", "type", "title", "tag", "tags", "exported", "file", "line", "environment", "parameters"),
	"catalogs": fields("certname", "version", "transaction_uuid", "catalog_uuid", "code_id", "job_id", "producer_timestamp",
		"producer", "hash", "environment"),
	"edges": fields("certname", "relationship", "source_type", "source_title", "target_type", "target_title"),
	"reports": fields("certname", "hash", "puppet_version", "report_format", "configuration_version", "start_time", "end_time",
		"producer_timestamp", "producer", "receive_time", "transaction_uuid", "catalog_uuid", "code_id", "job_id",
		"cached_catalog_status", "status", "noop", "noop_pending", "corrective_change", "environment", "type", "latest_report?"),
	"event_counts": fields("successes", "failures", "noops", "skips"),
	"events": fields("certname", "configuration_version", "containing_class", "containment_path", "corrective_change",
		"environment", "file", "line", "message", "name", "new_value", "old_value", "property", "report", "report_receive_time",
		"resource_title", "resource_type", "run_end_time", "run_start_time", "status", "timestamp", "latest_report?"),
}

// dottable lists the fields whose insides a dotted field reaches (parameters.owner,
// facts.os.family).
var dottable = map[string]bool{"resources.parameters": true, "inventory.facts": true, "inventory.trusted": true}

func init() {
	// "tag" matches one of a resource's tags.
	schema["resources"]["tag"] = true
}
