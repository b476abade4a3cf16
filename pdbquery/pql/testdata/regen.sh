#!/bin/sh
# Regenerates pdbquery/pql/testdata/golden.json, the answers of a real
# PuppetDB 7.12.1 to the PQL queries of testdata/queries.json
# (GET /pdb/query/v4?query=PQL&ast_only=true), which TestParseMatchesPuppetDB
# compares Parse against.
#
#   pdbquery/pql/testdata/regen.sh [PUPPETDB_URL]
#
# PUPPETDB_URL is the plain-HTTP base URL of a running PuppetDB, by default
# http://127.0.0.1:28080. From the repository root, one can be started and
# stopped with (needs root and Debian's puppetdb and postgresql packages):
#
#   scripts/real-puppetdb.sh start /tmp/pql-pdb "$PWD/puppetssl/testdata/site/ssl" server 25432 28080 28081
#   pdbquery/pql/testdata/regen.sh
#   scripts/real-puppetdb.sh stop /tmp/pql-pdb
#
# To add a case, add it to queries.json (prefix the name of a query PuppetDB
# must refuse with "invalid: ") and rerun; the generator fails if PuppetDB's
# answer contradicts the name.
set -eu
url=${1:-http://127.0.0.1:28080}
cd "$(dirname "$0")/.."
exec go run ./testdata/regen -url "$url" -in testdata/queries.json -out testdata/golden.json
