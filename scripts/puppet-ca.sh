#!/bin/sh
# Makes Puppet certificate material with Puppet's own CA code (Debian's
# ruby-puppetserver-ca-cli, the `puppetserver ca` tool without the server):
#
#   puppet-ca.sh setup DIR CERTNAME     a CA in DIR/ca (root + intermediate, as Puppet
#                                       Server 7 makes it) and CERTNAME's ssldir in
#                                       DIR/ssl, with localhost and 127.0.0.1 as SANs
#   puppet-ca.sh generate DIR NAME...   a key and a certificate signed by DIR's CA for
#                                       each NAME, into DIR/ssl
#   puppet-ca.sh revoke DIR NAME...     revokes NAMEs' certificates: a new CRL of the
#                                       intermediate CA (crlNumber + 1) in DIR/ca/ca_crl.pem
#                                       and DIR/ssl/crl.pem, as `puppetserver ca revoke`
#                                       leaves them (the tool revokes only through a
#                                       running server, so the CRL is signed here with
#                                       the same key and extensions)
set -eu
cmd=$1 dir=$2
shift 2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cat >"$dir/puppet.conf" <<CONF
[main]
ssldir = $dir/ssl
[server]
cadir = $dir/ca
CONF
ca() {
	ruby -e 'require "puppetserver/ca/cli"; exit Puppetserver::Ca::Cli.run(ARGV)' -- "$@" --config "$dir/puppet.conf"
}
case $cmd in
setup)
	ca setup --certname "$1" --subject-alt-names "localhost,IP:127.0.0.1" >/dev/null
	;;
generate)
	# --force: there is no server to ask whether it is running.
	for n in "$@"; do
		ca generate --certname "$n" --ca-client --force >/dev/null 2>&1 || ca generate --certname "$n" --ca-client --force
	done
	;;
revoke)
	ruby -ropenssl -e '
		dir, names = ARGV[0], ARGV[1..]
		crls = File.read("#{dir}/ca/ca_crl.pem").scan(/-----BEGIN X509 CRL-----.+?-----END X509 CRL-----\n?/m)
		old = OpenSSL::X509::CRL.new(crls[0])
		key = OpenSSL::PKey.read(File.read("#{dir}/ca/ca_key.pem"))
		cacert = OpenSSL::X509::Certificate.new(File.read("#{dir}/ca/ca_crt.pem"))
		crl = OpenSSL::X509::CRL.new
		crl.version = 1
		crl.issuer = old.issuer
		old.revoked.each { |r| crl.add_revoked(r) }
		names.each do |n|
			cert = OpenSSL::X509::Certificate.new(File.read("#{dir}/ca/signed/#{n}.pem"))
			r = OpenSSL::X509::Revoked.new
			r.serial = cert.serial
			r.time = Time.now
			r.add_extension(OpenSSL::X509::Extension.new("CRLReason", OpenSSL::ASN1::Enumerated(1)))
			crl.add_revoked(r)
		end
		number = old.extensions.find { |e| e.oid == "crlNumber" }.value.to_i + 1
		ef = OpenSSL::X509::ExtensionFactory.new
		ef.issuer_certificate = cacert
		ef.crl = crl
		crl.add_extension(ef.create_extension("authorityKeyIdentifier", "keyid:always"))
		crl.add_extension(OpenSSL::X509::Extension.new("crlNumber", OpenSSL::ASN1::Integer(number)))
		crl.last_update = Time.now - 1
		crl.next_update = old.next_update
		crl.sign(key, OpenSSL::Digest::SHA256.new)
		chain = crl.to_pem + crls[1..].join
		["#{dir}/ca/ca_crl.pem", "#{dir}/ssl/crl.pem"].each do |f|
			File.write(f + ".tmp", chain)
			File.rename(f + ".tmp", f)
		end
	' "$dir" "$@"
	;;
*)
	echo "puppet-ca.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
