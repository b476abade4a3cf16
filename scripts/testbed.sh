#!/bin/sh
# A real Debian bookworm with a real systemd as PID 1, booted with systemd-nspawn, for
# the tests of Package, Service and User resources (see integration/testbed).
#
#   testbed.sh build           build the rootfs tarball unless it is cached already
#   testbed.sh start DIR       unpack it into DIR/rootfs, boot it, print the bus address
#   testbed.sh stop DIR        halt the container started in DIR (DIR itself is kept)
#   testbed.sh exec DIR CMD..  run CMD inside the running container, exit with its code
#
# The image carries apt's package lists and the .debs of memcached and ntp, so that apt installs
# it offline: the container has a private network with only its own loopback. It has
# Puppet installed, so that tests can apply the same catalog with real Puppet in a
# second copy of the same image.
# Environment: TESTBED_FLAVOR (base, the default, or corpus: the image for the catalogs
# of fixtures/corpus, with Debian's Puppet modules installed and the packages those
# catalogs install downloaded), TESTBED_CACHE (the tarball, default below),
# TESTBED_MIRROR (the Debian mirror, default: the one of
# /etc/apt/sources.list.d/debian.sources). Needs root.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
include=systemd,systemd-sysv,dbus,passwd,ca-certificates
# The number in a tarball's name names the image's recipe: change it with the build
# steps, so that a cached tarball of an older recipe is not used.
flavor=${TESTBED_FLAVOR:-base}
case $flavor in
base)
	cache=${TESTBED_CACHE:-/var/cache/mgmt-puppet/testbed-bookworm-3.tgz}
	# Downloaded into the image, not installed: the tests install them offline.
	predownload="memcached ntp"
	# Installed into the image.
	install=puppet
	;;
corpus)
	cache=${TESTBED_CACHE:-/var/cache/mgmt-puppet/testbed-corpus-bookworm-2.tgz}
	# What the corpus catalogs install, but what Debian 12 does not have.
	predownload=$(grep -vxF -f "$here/../fixtures/corpus/packages-unavailable.txt" "$here/../fixtures/corpus/packages.txt" | tr '\n' ' ')
	# Puppet compiles the corpus manifests in the container and runs the module types.
	install="puppet $(tr '\n' ' ' <"$here/../fixtures/corpus/modules.txt")"
	;;
*)
	echo "testbed.sh: TESTBED_FLAVOR=$flavor: want base or corpus" >&2
	exit 2
	;;
esac
boot_timeout=30
stop_timeout=15

die() {
	echo "testbed.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: testbed.sh build | start DIR | stop DIR | exec DIR CMD..." >&2
	exit 2
}

need_root() {
	[ "$(id -u)" = 0 ] || die "$1 needs root"
}

need_cmd() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || die "$c not found (scripts/deps.sh installs it)"
	done
}

# mirror prints the Debian mirror: $TESTBED_MIRROR, else the first URI of the stanza of
# debian.sources whose Suites has $suite, else the first matching line of sources.list.
mirror() {
	if [ -n "${TESTBED_MIRROR:-}" ]; then
		echo "$TESTBED_MIRROR"
		return
	fi
	m=""
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		m=$(awk -v suite="$suite" '
			/^[ \t]*$/ { if (ok && uri != "") { print uri; exit } ok = 0; uri = ""; next }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
			END { if (ok && uri != "") print uri }
		' /etc/apt/sources.list.d/debian.sources | head -n 1)
	fi
	if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
		m=$(awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list)
	fi
	[ -n "$m" ] || die "no Debian mirror for $suite in /etc/apt; set TESTBED_MIRROR"
	echo "$m"
}

cmd_build() {
	if [ -f "$cache" ]; then
		return 0
	fi
	need_root build
	need_cmd debootstrap chroot tar gzip
	m=$(mirror)
	cachedir=$(dirname "$cache")
	mkdir -p "$cachedir"
	work=$(mktemp -d "$cachedir/.build.XXXXXX")
	# The chroot mounts nothing, so removing the work tree cannot reach the host's files;
	# --one-file-system is there in case that ever changes.
	trap 'rm -rf --one-file-system "$work"' EXIT
	trap 'exit 1' INT TERM HUP
	root="$work/rootfs"
	echo "testbed.sh: debootstrap $suite into $root" >&2
	debootstrap --variant=minbase --include="$include" "$suite" "$root" "$m" >"$work/debootstrap.log" 2>&1 ||
		{ tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
	# apt-get clean drops the .debs debootstrap leaves behind (a third of the tarball);
	# the lists and the .debs fetched after it stay, for offline installs.
	echo "testbed.sh: downloading $predownload for offline installs" >&2
	# One package at a time: some of them conflict with each other (chrony, ntp),
	# and apt resolves each install on its own.
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		sh -c "apt-get clean && apt-get update -qq && for p in $predownload; do apt-get install --download-only -y -qq \$p || exit 1; done" >"$work/apt.log" 2>&1 ||
		{ tail -n 30 "$work/apt.log" >&2; die "apt-get in the image failed"; }
	# Installing must not start services in the chroot: policy-rc.d says no while it runs.
	echo "testbed.sh: installing $install" >&2
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		sh -c "apt-get install -y -qq --no-install-recommends $install" >>"$work/apt.log" 2>&1 ||
		{ tail -n 30 "$work/apt.log" >&2; die "apt-get in the image failed"; }
	rm -f "$root/usr/sbin/policy-rc.d"
	# The agent's service would try to reach a Puppet server at every boot.
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin systemctl disable -q puppet.service 2>/dev/null || true
	# debootstrap copied the build host's name; each machine's image should be the same.
	echo testbed >"$root/etc/hostname"
	echo "testbed.sh: writing $cache" >&2
	tar --numeric-owner -C "$root" -czpf "$work/image.tgz" .
	mv "$work/image.tgz" "$cache"
	rm -rf --one-file-system "$work"
	trap - EXIT INT TERM HUP
}

# ms prints the time between two `date +%s%N` readings in seconds, to the millisecond.
ms() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3fs", (b - a) / 1e9 }'
}

# starttime prints field 22 of /proc/PID/stat (the process's start time since boot),
# which tells a live process from a later one that reused its PID; nothing for a zombie
# (an orphan whose exit the host's PID 1 has not reaped yet).
starttime() {
	sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '$1 != "Z" { print $20 }'
}

# started PIDFILE prints the PID recorded in PIDFILE if that very process (same start
# time, recorded beside it) is still alive, and nothing otherwise.
started() {
	[ -f "$1" ] || return 0
	read -r p st <"$1" || true
	[ -n "${p:-}" ] && [ -n "${st:-}" ] || return 0
	[ "$(starttime "$p")" = "$st" ] && echo "$p"
	return 0
}

# container_init prints the host PID of the container's PID 1: the child of nspawn whose
# PID in its own namespace is 1.
container_init() {
	for c in $(cat "/proc/$1/task/"*/children 2>/dev/null); do
		ns=$(awk '$1 == "NSpid:" && NF > 2 && $NF == 1 { print "init" }' "/proc/$c/status" 2>/dev/null)
		if [ "$ns" = init ]; then
			echo "$c"
			return 0
		fi
	done
	return 0
}

# cgroup_dirs prints the directories of the cgroups this shell is in on the named
# systemd v1 hierarchy and on the unified (v2) one, under which the testbed's own goes.
cgroup_dirs() {
	if [ -d /sys/fs/cgroup/unified ]; then
		v2=/sys/fs/cgroup/unified
	else
		v2=/sys/fs/cgroup
	fi
	awk -F: -v v2="$v2" '
		$2 == "name=systemd" && $1 != "0" { print "/sys/fs/cgroup/systemd" $3 }
		$1 == "0" && $2 == "" { print v2 $3 }
	' /proc/self/cgroup | sed 's,/$,,'
}

# remove_cgroups removes the cgroups listed in DIR/cgroups, children first; a few
# tries, since a cgroup can stay busy for a moment after its last process exits.
remove_cgroups() {
	[ -f "$1/cgroups" ] || return 0
	ok=1
	while read -r cg; do
		[ -n "$cg" ] && [ -d "$cg" ] || continue
		i=0
		while [ -d "$cg" ] && [ $i -lt 20 ]; do
			find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
			[ -d "$cg" ] && sleep 0.1
			i=$((i + 1))
		done
		[ -d "$cg" ] && { echo "testbed.sh: cannot remove cgroup $cg" >&2; ok=0; }
	done <"$1/cgroups"
	[ $ok = 1 ] && rm -f "$1/cgroups"
	return 0
}

cmd_start() {
	dir=$1
	need_root start
	need_cmd systemd-nspawn busctl tar
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ -z "$(started "$dir/pid")" ] || die "a testbed is already running in $dir"
	[ ! -e "$dir/rootfs" ] || die "$dir/rootfs exists already; start wants a fresh DIR"
	cmd_build
	mkdir -p "$dir/rootfs" "$dir/bus"
	t0=$(date +%s%N)
	tar --numeric-owner -C "$dir/rootfs" -xzpf "$cache"
	t1=$(date +%s%N)

	# nspawn goes into a cgroup of its own, else it leaves its payload/ and supervisor/
	# cgroups behind at the hierarchy's root.
	name=mgmt-puppet-testbed-$$
	: >"$dir/cgroups"
	for parent in $(cgroup_dirs); do
		mkdir "$parent/$name"
		echo "$parent/$name" >>"$dir/cgroups"
	done
	# A machine name of its own: concurrent testbeds must not share nspawn's state under
	# /run/systemd/nspawn/.
	machine=testbed-$$
	# sh -c moves itself into the cgroups, then becomes nspawn: the PID is nspawn's.
	# All of nspawn's fds go to files, so that a caller reading our output is not held.
	sh -c 'for cg in $(cat "$1/cgroups"); do echo $$ >"$cg/cgroup.procs"; done
		shift
		exec "$@"' testbed "$dir" \
		systemd-nspawn -b -D "$dir/rootfs" --machine="$machine" --register=no --keep-unit \
		--console=pipe --private-network --bind="$dir/bus:/run/dbus" \
		</dev/null >"$dir/console.log" 2>&1 &
	pid=$!
	st=""
	i=0
	while [ -z "$st" ] && [ $i -lt 50 ]; do
		st=$(starttime "$pid")
		i=$((i + 1))
	done
	echo "$pid $st" >"$dir/pid"

	addr="unix:path=$dir/bus/system_bus_socket"
	deadline=$(($(date +%s) + boot_timeout))
	state=""
	i=0
	while [ $i -lt $((boot_timeout * 20)) ] && [ "$(date +%s)" -lt $deadline ]; do
		if [ -z "$(started "$dir/pid")" ]; then
			tail -n 30 "$dir/console.log" >&2
			remove_cgroups "$dir"
			die "systemd-nspawn exited before the container was up (log: $dir/console.log)"
		fi
		state=$(busctl --address="$addr" --timeout=2 get-property org.freedesktop.systemd1 \
			/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager SystemState 2>/dev/null || true)
		case $state in
		*'"running"' | *'"degraded"') break ;;
		esac
		sleep 0.05
		i=$((i + 1))
	done
	case $state in
	*'"running"' | *'"degraded"') ;;
	*)
		tail -n 30 "$dir/console.log" >&2
		cmd_stop "$dir" || true
		die "the container did not reach running in ${boot_timeout}s (last state: ${state:-none})"
		;;
	esac
	init=$(container_init "$pid")
	[ -n "$init" ] || { cmd_stop "$dir" || true; die "no PID 1 under systemd-nspawn $pid"; }
	echo "$init $(starttime "$init")" >"$dir/init.pid"
	t2=$(date +%s%N)
	echo "testbed.sh: unpacked in $(ms $t0 $t1), booted to ${state#s } in $(ms $t1 $t2)" >&2
	echo "$addr"
}

cmd_stop() {
	dir=$1
	need_root stop
	pid=$(started "$dir/pid")
	init=$(started "$dir/init.pid")
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		i=0
		while [ -n "$(started "$dir/pid")" ] && [ $i -lt $((stop_timeout * 20)) ]; do
			sleep 0.05
			i=$((i + 1))
		done
		if [ -n "$(started "$dir/pid")" ]; then
			echo "testbed.sh: systemd-nspawn $pid still up after ${stop_timeout}s; SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	# nspawn's death kills the container's PID 1 with it; this is for the case it did not.
	if [ -n "$init" ] && [ -n "$(started "$dir/init.pid")" ]; then
		kill -KILL "$init" 2>/dev/null || true
	fi
	i=0
	while { [ -n "$(started "$dir/pid")" ] || [ -n "$(started "$dir/init.pid")" ]; } && [ $i -lt 40 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -z "$(started "$dir/pid")" ] || die "systemd-nspawn $pid survived SIGKILL"
	rm -f "$dir/pid" "$dir/init.pid"
	remove_cgroups "$dir"
}

cmd_exec() {
	dir=$1
	shift
	[ $# -gt 0 ] || usage
	need_root exec
	need_cmd nsenter
	init=$(started "$dir/init.pid")
	[ -n "$init" ] || die "no testbed running in $dir"
	# A clean environment: the host's (GOFLAGS, TMPDIR...) means nothing inside.
	exec nsenter -t "$init" -a -- /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 "$@"
}

[ $# -gt 0 ] || usage
sub=$1
shift
case $sub in
build)
	[ $# -eq 0 ] || usage
	cmd_build
	;;
start)
	[ $# -eq 1 ] || usage
	cmd_start "$1"
	;;
stop)
	[ $# -eq 1 ] || usage
	cmd_stop "$1"
	;;
exec)
	[ $# -ge 2 ] || usage
	cmd_exec "$@"
	;;
*) usage ;;
esac
