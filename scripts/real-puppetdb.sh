#!/bin/sh
# Runs Debian's real PuppetDB (7.12.1) with its own PostgreSQL cluster under DIR,
# for the side-by-side and differential tests; nothing of the system's PuppetDB or
# PostgreSQL configuration is used or changed.
#
#   real-puppetdb.sh start DIR SSLDIR CERTNAME PGPORT HTTPPORT HTTPSPORT
#       PostgreSQL on 127.0.0.1:PGPORT (trust authentication, loopback only),
#       PuppetDB on http://127.0.0.1:HTTPPORT and https://127.0.0.1:HTTPSPORT with
#       CERTNAME's certificate from SSLDIR (client certificates of its CA required,
#       jetty's default, and checked against SSLDIR/crl.pem); returns once
#       PuppetDB's status is "running"
#   real-puppetdb.sh stop DIR
#       stops the two, by the PIDs recorded in DIR
# Needs root (PostgreSQL runs as user postgres) and the packages puppetdb and
# postgresql.
set -eu
cmd=$1 dir=$2
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
stop() {
	if [ -f "$dir/puppetdb.pid" ]; then
		pid=$(cat "$dir/puppetdb.pid")
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$dir/puppetdb.pid"
	fi
	if [ -f "$dir/pg/postmaster.pid" ]; then
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg" -m fast -w -t 30 stop >/dev/null || true
	fi
}
case $cmd in
stop)
	stop
	exit 0
	;;
start) ;;
*)
	echo "real-puppetdb.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
ssldir=$3 certname=$4 pgport=$5 httpport=$6 httpsport=$7
mkdir -p "$dir/pg" "$dir/var" "$dir/conf.d" "$dir/run"
chown postgres: "$dir/pg"
chmod 0755 "$dir"
runuser -u postgres -- "$pgbin/initdb" -D "$dir/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
	{ cat "$dir/initdb.log" >&2; exit 1; }
runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/pg/log" -w -t 60 \
	-o "-p $pgport -c listen_addresses=127.0.0.1 -k $dir/pg -c fsync=off" start >/dev/null ||
	{ cat "$dir/pg/log" >&2; exit 1; }
psql() { runuser -u postgres -- "$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -q -v ON_ERROR_STOP=1 "$@"; }
psql -c "create role puppetdb login password 'puppetdb'"
psql -c "create database puppetdb encoding 'UTF8' owner puppetdb template template0"
psql -d puppetdb -c "create extension pg_trgm"

cat >"$dir/conf.d/config.ini" <<CONF
[global]
vardir = $dir/var
logging-config = $dir/logback.xml
[puppetdb]
disable-update-checking = true
CONF
cat >"$dir/conf.d/database.ini" <<CONF
[database]
subname = //127.0.0.1:$pgport/puppetdb
username = puppetdb
password = puppetdb
CONF
cat >"$dir/conf.d/jetty.ini" <<CONF
[jetty]
host = 127.0.0.1
port = $httpport
ssl-host = 127.0.0.1
ssl-port = $httpsport
ssl-key = $ssldir/private_keys/$certname.pem
ssl-cert = $ssldir/certs/$certname.pem
ssl-ca-cert = $ssldir/certs/ca.pem
ssl-crl-path = $ssldir/crl.pem
CONF
cp /etc/puppetdb/conf.d/auth.conf "$dir/conf.d/auth.conf"
sed "s|/var/log/puppetdb|$dir|g" /etc/puppetdb/logback.xml >"$dir/logback.xml"
java -Xmx256m -Djava.security.egd=/dev/urandom -cp /usr/share/puppetdb/puppetdb.jar clojure.main \
	-m puppetlabs.puppetdb.core services --config "$dir/conf.d" --bootstrap-config /etc/puppetdb/bootstrap.cfg \
	--restart-file "$dir/run/restart" >"$dir/puppetdb.out" 2>&1 &
echo $! >"$dir/puppetdb.pid"
i=0
while [ $i -lt 600 ]; do
	if curl -sf "http://127.0.0.1:$httpport/status/v1/services/puppetdb-status" 2>/dev/null | grep -q '"state" *: *"running"'; then
		exit 0
	fi
	if ! kill -0 "$(cat "$dir/puppetdb.pid")" 2>/dev/null; then
		tail -n 40 "$dir/puppetdb.out" >&2
		exit 1
	fi
	sleep 0.5
	i=$((i + 1))
done
echo "real-puppetdb.sh: PuppetDB not running after 300 s" >&2
tail -n 40 "$dir/puppetdb.out" >&2
stop
exit 1
