#!/bin/sh
# Demo: applies real Puppet-compiled catalogs from fixtures/ into a temporary folder.
# 1. The sleep catalog (three chained `sleep 2` execs plus one free one): Puppet runs
#    them one after the other (8 s); mgmt-puppet runs the free one beside the chain.
# 2. The basic catalog, kept converged: a file is deleted and another edited, and
#    mgmt-puppet repairs both within milliseconds, as its log shows.
set -eu
cd "$(dirname "$0")/.."
bin=bin/mgmt-puppet
placeholder=/tmp/mgmt-puppet-fixture
root=$(mktemp -d /tmp/mgmt-puppet-demo.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$root"
}
trap cleanup EXIT INT TERM

catalog() { sed "s|$placeholder|$root|g" "fixtures/$1/catalog.json" >"$root/$1.json"; echo "$root/$1.json"; }

echo "== 1. parallel: fixtures/sleep (3 chained + 1 free 'sleep 2'; puppet apply needs 8 s of apply time)"
start=$(date +%s.%N)
$bin run --color false "$(catalog sleep)"
end=$(date +%s.%N)
echo "   whole process: $(echo "$end - $start" | bc) s"

echo
echo "== 2. drift repair: fixtures/basic, kept converged (--converged-timeout -1)"
: >"$root/run.log"
$bin run --color false --converged-timeout -1 "$(catalog basic)" >"$root/run.log" 2>&1 &
pid=$!
i=0
until grep -q "Applied catalog" "$root/run.log"; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "first pass did not finish"; cat "$root/run.log"; exit 1; }
	sleep 0.1
done
cat "$root/run.log"
f="$root/basic/etc/app.conf"
echo
echo "-- rm $f"
rm "$f"
sleep 0.3
echo "-- echo tampered > $root/basic/run.sh"
echo tampered >"$root/basic/run.sh"
sleep 0.3
echo "-- log after the drift:"
sed -n '/Applied catalog/,$p' "$root/run.log" | tail -n +2
echo "-- $f is back: $(cat "$f")"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""
