#!/bin/sh
# Runs Debian's real Puppet Server (7.9.5) with its own confdir, CA and SSL dir under
# DIR, for integration tests of the agent against the real thing; nothing of the
# system's Puppet or Puppet Server configuration (/etc/puppet, /var/lib/puppet,
# /var/lib/puppetserver, /var/log/puppetserver, /run/puppetserver) is used or changed,
# and neither systemd nor /usr/bin/puppetserver is involved: the java command of
# Debian's unit runs directly, on copies of its conf.d and services.d under DIR.
#
#   real-puppetserver.sh start DIR PORT CODEDIR
#       Puppet Server on https://127.0.0.1:PORT (bound to 127.0.0.1 only), with the
#       CA service on: a fresh CA "Puppet CA: puppet" in DIR/ca and the server's
#       certificate for certname "puppet" with SANs DNS:puppet, DNS:localhost and
#       IP:127.0.0.1 in DIR/ssl, so a client verifies it when it connects to
#       127.0.0.1 or localhost with DIR/ca/ca_crt.pem (= DIR/ssl/certs/ca.pem) as
#       its CA. Every CSR is signed at once (autosign = true, or the policy
#       executable named by PUPPETSERVER_AUTOSIGN when set). Code comes from
#       CODEDIR (environments/<env>/manifests, environments/<env>/modules, and
#       CODEDIR/modules as the only basemodulepath, so Debian's
#       /usr/share/puppet/modules are not pluginsynced), read again at each compile
#       (environment_timeout = 0), and CODEDIR/site, when it exists, as the mount
#       "site" of fileserver.conf. Agents' reports are stored (reports = store) as
#       DIR/var/reports/<certname>/<YYYYmmddHHMM>.yaml. Logs: DIR/log/puppetserver.log
#       (Puppet Server and Puppet's own messages), DIR/log/puppetserver-access.log
#       (every request), DIR/log/puppetserver.out (the JVM's stdout and stderr).
#       Returns once /status/v1/simple answers "running", checked against DIR's CA
#       (up to 300 s; 30-60 s on 2 cores); fails at once if PORT is taken, else
#       with the logs' tail if the JVM dies or is not ready in time.
#   real-puppetserver.sh stop DIR
#       stops it, by the PID recorded in DIR (TERM, then KILL after 30 s)
# Needs the package puppetserver (and curl), and root: Puppet Server runs as root
# here (it does not mind), Puppet chowns some of DIR's directories to user puppet.
set -eu
cmd=$1 dir=$2
stop() {
	if [ -f "$dir/puppetserver.pid" ]; then
		pid=$(cat "$dir/puppetserver.pid")
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$dir/puppetserver.pid"
	fi
}
logtail() {
	tail -n 40 "$dir/log/puppetserver.out" "$dir/log/puppetserver.log" >&2 2>/dev/null || true
}
case $cmd in
stop)
	stop
	exit 0
	;;
start) ;;
*)
	echo "real-puppetserver.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
port=$3 codedir=$4
# Something already listening there would answer the readiness check below (curl
# exits with 7 only when nothing accepts the connection).
rc=0
curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$port/" || rc=$?
if [ $rc -ne 7 ]; then
	echo "real-puppetserver.sh: port $port on 127.0.0.1 is already in use" >&2
	exit 1
fi
umask 022
mkdir -p "$dir/conf" "$dir/conf.d" "$dir/services.d" "$dir/ssl" "$dir/ca" "$dir/var" "$dir/run" "$dir/log" "$dir/jruby-gems"
chmod 0755 "$dir"

# Puppet's settings, read by the JRuby side (run mode "server", so [main] and [server]).
# certname and dns_alt_names must be in place before the first start: that start
# makes the CA in DIR/ca and the server's certificate in DIR/ssl with these SANs.
cat >"$dir/conf/puppet.conf" <<CONF
[main]
certname = puppet
codedir = $codedir
vardir = $dir/var
rundir = $dir/run
logdir = $dir/log
publicdir = $dir/var/public
ssldir = $dir/ssl
cadir = $dir/ca
[server]
dns_alt_names = localhost,IP:127.0.0.1
autosign = ${PUPPETSERVER_AUTOSIGN:-true}
reports = store
reportdir = $dir/var/reports
environment_timeout = 0
basemodulepath = $codedir/modules
CONF

# fileserver.conf: a mount of the server's own beside modules, "site", serving
# CODEDIR/site when it exists (puppet:///site/...).
if [ -d "$codedir/site" ]; then
	cat >"$dir/conf/fileserver.conf" <<CONF
[site]
    path $codedir/site
CONF
fi

# Trapperkeeper's configuration: Debian's conf.d, pointed at DIR's paths.
cp /etc/puppet/puppetserver/conf.d/auth.conf /etc/puppet/puppetserver/conf.d/ca.conf \
	/etc/puppet/puppetserver/conf.d/metrics.conf /etc/puppet/puppetserver/conf.d/web-routes.conf "$dir/conf.d/"
cat >"$dir/conf.d/global.conf" <<CONF
global: {
    logging-config: "$dir/logback.xml"
}
CONF
cat >"$dir/conf.d/webserver.conf" <<CONF
webserver: {
    access-log-config: "$dir/request-logging.xml"
    client-auth: want
    ssl-host: 127.0.0.1
    ssl-port: $port
}
CONF
cat >"$dir/conf.d/puppetserver.conf" <<CONF
jruby-puppet: {
    ruby-load-path: [/usr/lib/puppetserver/ruby/vendor_ruby]
    gem-home: "$dir/jruby-gems"
    gem-path: [\${jruby-puppet.gem-home}, "/usr/lib/puppetserver/vendored-jruby-gems"]
    server-conf-dir: "$dir/conf"
    server-code-dir: "$codedir"
    server-var-dir: "$dir/var"
    server-run-dir: "$dir/run"
    server-log-dir: "$dir/log"
}
http-client: {
}
profiler: {
}
CONF
# Debian's default already, but said here: no call home.
cat >"$dir/conf.d/product.conf" <<CONF
product: {
    check-for-updates: false
}
CONF
# services.d as Debian's: bootstrap.cfg plus ca.cfg with the CA service enabled.
cp /etc/puppet/puppetserver/services.d/bootstrap.cfg "$dir/services.d/bootstrap.cfg"
cat >"$dir/services.d/ca.cfg" <<CONF
puppetlabs.services.ca.certificate-authority-service/certificate-authority-service
puppetlabs.trapperkeeper.services.watcher.filesystem-watch-service/filesystem-watch-service
CONF
cat >"$dir/logback.xml" <<CONF
<configuration>
    <appender name="F1" class="ch.qos.logback.core.FileAppender">
        <file>$dir/log/puppetserver.log</file>
        <append>true</append>
        <encoder>
            <pattern>%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} %-5p [%t] [%c{2}] %m%n</pattern>
        </encoder>
    </appender>
    <appender name="STATUS" class="ch.qos.logback.core.FileAppender">
        <file>$dir/log/puppetserver-status.log</file>
        <append>true</append>
        <encoder>
            <pattern>%m%n</pattern>
        </encoder>
    </appender>
    <logger name="puppetlabs.trapperkeeper.services.status.status-debug-logging" level="debug" additivity="false">
        <appender-ref ref="STATUS"/>
    </logger>
    <logger name="org.eclipse.jetty" level="INFO"/>
    <logger name="org.apache.http" level="INFO"/>
    <logger name="jruby" level="info"/>
    <root level="info">
        <appender-ref ref="F1"/>
    </root>
</configuration>
CONF
cat >"$dir/request-logging.xml" <<CONF
<configuration debug="false">
    <appender name="FILE" class="ch.qos.logback.core.FileAppender">
        <file>$dir/log/puppetserver-access.log</file>
        <append>true</append>
        <encoder>
            <pattern>%h %l %u [%t] "%r" %s %b "%i{Referer}" "%i{User-Agent}" %D %i{Content-Length} %mdc{jruby.borrow-time:--}</pattern>
        </encoder>
    </appender>
    <appender-ref ref="FILE" />
</configuration>
CONF

# The command of Debian's puppetserver.service (JAVA_ARGS of /etc/default/puppetserver,
# with a smaller heap), run from DIR; exec keeps $! the JVM's PID. The two --add-opens
# (which Debian's cli-defaults.sh gives only the CLI tools) let JRuby control
# subprocesses natively: without them JRuby warns (FilenoUtil) and the output of the
# commands Facter runs in the server (ip link, ip route) leaks to the JVM's stdout.
(cd "$dir" && exec java -Xms512m -Xmx768m -Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger \
	--add-opens java.base/sun.nio.ch=ALL-UNNAMED --add-opens java.base/java.io=ALL-UNNAMED \
	-Djruby.lib=/usr/share/jruby/lib -Djava.security.egd=file:/dev/urandom \
	-XX:+CrashOnOutOfMemoryError -XX:ErrorFile="$dir/log/puppetserver_err_pid%p.log" \
	-jar /usr/share/puppetserver/puppetserver.jar \
	--config "$dir/conf.d" --bootstrap-config "$dir/services.d" \
	--restart-file "$dir/run/restart") >"$dir/log/puppetserver.out" 2>&1 </dev/null &
echo $! >"$dir/puppetserver.pid"
deadline=$(($(date +%s) + 300))
while [ "$(date +%s)" -lt $deadline ]; do
	# Verified against DIR's CA (made during the start), so it is this server answering.
	if [ -f "$dir/ca/ca_crt.pem" ] && [ "$(curl -s --max-time 5 --cacert "$dir/ca/ca_crt.pem" \
		"https://127.0.0.1:$port/status/v1/simple" 2>/dev/null)" = running ]; then
		exit 0
	fi
	if ! kill -0 "$(cat "$dir/puppetserver.pid")" 2>/dev/null; then
		logtail
		rm -f "$dir/puppetserver.pid"
		exit 1
	fi
	sleep 0.5
done
echo "real-puppetserver.sh: Puppet Server not running after 300 s" >&2
logtail
stop
exit 1
