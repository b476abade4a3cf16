#!/bin/sh
# capture.sh writes puppet-apply.{log,json,jsonl}: what real `puppet apply` writes
# to --logdest files of each kind, for puppet-apply.pp (which manages
# /tmp/ld/x: remove it first, so that the run changes it). The lines of loading
# Facter's facts, which depend on the machine, are left out.
set -eu
cd "$(dirname "$0")"
out=$(mktemp -d)
rm -f /tmp/ld/x
puppet apply puppet-apply.pp --verbose --logdest "$out/a.log,$out/a.json,$out/a.jsonl" >/dev/null 2>&1 || true
keep='"source":"(Puppet|/Stage[^"]*)"'
grep -E '^[0-9-]+ [0-9:]+ [-+][0-9]+ (Puppet|/Stage)' "$out/a.log" | grep -v 'Loading facts' > puppet-apply.log
grep -E "$keep" "$out/a.jsonl" | grep -v 'Loading facts' > puppet-apply.jsonl
{ printf '[\n'; sed 's/$/\n,/' puppet-apply.jsonl | sed '$d'; } > puppet-apply.json
rm -r "$out"
