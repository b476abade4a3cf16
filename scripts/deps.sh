#!/bin/sh
# Installs what the tests and benchmarks need when it is missing: real Puppet 7 from
# Debian (the tests compare mgmt-puppet with `puppet apply`), Debian's stdlib, concat
# and core-type modules (fixtures compiled from them are applied by real Puppet too),
# the stock puppetdb terminus (the compiler exports into `mgmt-puppet puppetdb`),
# Puppet's CA code (ruby-puppetserver-ca-cli, for certificates and CRLs), the real
# PuppetDB with PostgreSQL (the side-by-side test), the real Puppet Server (the
# agent's tests), cron
# (crontab), debootstrap and systemd-nspawn (package systemd-container) for the
# real-systemd testbed of scripts/testbed.sh, and the Debian modules that the corpus
# catalogs were compiled from (fixtures/corpus/modules.txt: Puppet runs their types)
# with jq for the corpus scripts; e2fsprogs and mount for the fault suite's
# loop-mounted ext4. Needs root for apt-get.
set -eu
modules=/usr/share/puppet/modules
missing=""
command -v puppet >/dev/null 2>&1 || missing="$missing puppet"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
command -v systemd-nspawn >/dev/null 2>&1 || missing="$missing systemd-container"
# The stock puppetdb terminus: the compiler exports into `mgmt-puppet puppetdb` with it.
[ -f /usr/lib/ruby/vendor_ruby/puppet/indirector/resource/puppetdb.rb ] || missing="$missing puppet-terminus-puppetdb"
command -v crontab >/dev/null 2>&1 || missing="$missing cron"
# Puppet's own CA code (the `puppetserver ca` tool): the PuppetDB API's TLS tests
# use certificates and CRLs it makes (scripts/puppet-ca.sh).
ruby -e 'require "puppetserver/ca/cli"' >/dev/null 2>&1 || missing="$missing ruby-puppetserver-ca-cli"
# The real PuppetDB 7.12.1 with PostgreSQL, run beside `mgmt-puppet puppetdb` by
# scripts/real-puppetdb.sh (its own cluster under a temp dir; curl polls its status).
[ -f /usr/share/puppetdb/puppetdb.jar ] || missing="$missing puppetdb"
# The real Puppet Server 7.9.5, run by scripts/real-puppetserver.sh under a temp
# dir: `mgmt-puppet agent` and real `puppet agent` are its two nodes in the tests.
[ -f /usr/share/puppetserver/puppetserver.jar ] || missing="$missing puppetserver"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
# Puppetboard's client, asked the same of both in the differential test.
[ -f /usr/lib/python3/dist-packages/pypuppetdb/api.py ] || missing="$missing python3-pypuppetdb"
for m in stdlib concat cron_core host_core sshkeys_core mount_core inifile; do
	[ -d "$modules/$m" ] || missing="$missing puppet-module-puppetlabs-$(echo "$m" | tr _ -)"
done
command -v jq >/dev/null 2>&1 || missing="$missing jq"
# sysctl (Sysctl_runtime's test) and unshare (its network namespaces).
command -v sysctl >/dev/null 2>&1 || [ -x /sbin/sysctl ] || [ -x /usr/sbin/sysctl ] || missing="$missing procps"
command -v unshare >/dev/null 2>&1 || missing="$missing util-linux"
# The fault suite: a loop-mounted ext4 (mkfs.ext4, losetup, mount).
command -v mkfs.ext4 >/dev/null 2>&1 || [ -x /sbin/mkfs.ext4 ] || missing="$missing e2fsprogs"
command -v losetup >/dev/null 2>&1 || [ -x /sbin/losetup ] || missing="$missing mount"
here=$(cd "$(dirname "$0")" && pwd)
for p in $(cat "$here/../fixtures/corpus/modules.txt"); do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -z "$missing" ]; then
	exit 0
fi
echo "deps.sh: installing$missing" >&2
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: need root to apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# PuppetDB's package would set up a database in the system's PostgreSQL; the tests
# make their own.
echo "puppetdb puppetdb/dbconfig-install boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq $missing >/dev/null
