"""What a dashboard reads through Debian's pypuppetdb 2.2.0 (Puppetboard's client).

Usage: pypuppetdb_tour.py HOST PORT
Connects over plain HTTP, walks nodes (with status and event counts), a node's
facts, reports and their events, resources, environments, fact names, facts by
name and value, a catalog, and prints what it read as JSON: every field the
client parses, times and hashes left out (they differ between two servers given
the same commands). Any exception (a timestamp pypuppetdb cannot parse, a missing
field, an HTTP error) ends it with a traceback and exit status 1.
"""
import json
import sys

from pypuppetdb import connect
from pypuppetdb.QueryBuilder import AndOperator, EqualsOperator

db = connect(host=sys.argv[1], port=int(sys.argv[2]), timeout=30)
out = {"version": db.current_version()}

nodes = sorted(db.nodes(with_status=True, with_event_numbers=True), key=lambda n: n.name)
out["nodes"] = [{"name": n.name, "status": n.status, "events": n.events,
                 "catalog_environment": n.catalog_environment, "deactivated": bool(n.deactivated),
                 "report_environment": n.report_environment} for n in nodes]

node = db.node("nodea.example")
out["node facts"] = sorted(f.name for f in node.facts())
reports = list(node.reports(order_by='[{"field": "end_time", "order": "desc"}]', include_total=True))
out["reports total"] = db.total
out["reports"] = [{"node": r.node, "status": r.status, "environment": r.environment, "agent_version": r.agent_version,
                   "format": r.format_, "run_time>=0": r.run_time.total_seconds() >= 0,
                   "metrics": sorted((m["category"], m["name"]) for m in r.metrics),
                   "logs": sorted(l["message"] for l in r.logs)} for r in reports]
out["events"] = sorted((e.item["type"], e.item["title"], e.status, e.item["property"]) for e in reports[0].events())
out["resources"] = sorted((r.node, r.type_, r.name, r.exported) for r in db.resources("File"))
seed = AndOperator()
seed.add([EqualsOperator("type", "File"), EqualsOperator("tag", "seed")])
out["seed resources"] = sorted((r.node, r.name) for r in db.resources(query=seed))
out["environments"] = sorted(e["name"] for e in db.environments())
out["fact names include kernel"] = "kernel" in db.fact_names()
out["kernel facts"] = sorted((f.node, f.value) for f in db.facts("kernel"))
out["kernel Linux"] = sorted(f.node for f in db.facts("kernel", "Linux"))
cat = db.catalog("nodeb.example")
out["catalog"] = {"node": cat.node, "environment": cat.environment, "resources": len(list(cat.get_resources())),
                  "edges": len(cat.edges)}
out["event counts"] = sorted(json.dumps(c, sort_keys=True) for c in
                             db.event_counts(summarize_by="certname", query=EqualsOperator("latest_report?", True)))
print(json.dumps(out, indent=1, sort_keys=True, default=str))
