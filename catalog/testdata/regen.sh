#!/bin/sh
# Recompile testdata/<case>/catalog.json from testdata/<case>/site.pp with real Puppet 7
# (Debian's puppet package), then rewrite the goldens:
#   ./regen.sh && (cd .. && go test -run TestGolden -update)
# Manifest paths are rewritten to /regen/<case>/site.pp so the output is stable.
# A case with a file named `notice` is compiled at log level notice, so that stdout
# starts with Puppet's ANSI-coloured "Notice: Compiled catalog ..." line.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/conf" "$tmp/var" "$tmp/code" "$tmp/modules"
for pp in "$here"/*/site.pp; do
	dir=$(dirname "$pp")
	name=$(basename "$dir")
	level=warning
	[ -f "$dir/notice" ] && level=notice
	cp "$pp" "$tmp/site.pp"
	(cd "$tmp" && puppet catalog find regen-node --terminus compiler \
		--render-as rich_data_json --log_level "$level" --manifest "$tmp/site.pp" \
		--confdir "$tmp/conf" --vardir "$tmp/var" --codedir "$tmp/code" \
		--basemodulepath "$tmp/modules" >"$tmp/out.json" 2>"$tmp/err.txt") || {
		grep -v Facter "$tmp/err.txt" >&2
		echo "$name: puppet failed" >&2
		exit 1
	}
	sed "s#$tmp/site.pp#/regen/$name/site.pp#g" "$tmp/out.json" >"$dir/catalog.json"
	echo "regenerated $name"
done
