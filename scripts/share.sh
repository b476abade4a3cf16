#!/bin/sh
# Prints, for every fixture catalog, how many of its resources run natively, through
# Puppet (delegated), or not at all, from `mgmt-puppet translate --format json`: the
# table in README.md. Usage: scripts/share.sh [BIN] (default bin/mgmt-puppet).
set -eu
bin=${1:-bin/mgmt-puppet}
echo "| fixture | resources | native | run by Puppet | unsupported | containers |"
echo "|---|---|---|---|---|---|"
for c in fixtures/*/catalog.json; do
	name=$(basename "$(dirname "$c")")
	# A catalog with problems still prints its graph; the exit code is not ours here.
	"$bin" translate --format json "$c" 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin)["types"]
n, d, u, c = (sum(s[k] for s in t) for k in ("native", "delegated", "unsupported", "container"))
print("| %s | %d | %d | %d | %d | %d |" % (sys.argv[1], n + d + u, n, d, u, c))' "$name" || true
done
