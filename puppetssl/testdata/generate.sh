#!/bin/sh
# Regenerates this folder with Puppet's own CA code (scripts/puppet-ca.sh):
#   site/   a Puppet Server 7 CA (root + intermediate); certificates of server
#           (SANs localhost, 127.0.0.1), compiler.example, node1.example and
#           revoked.example, the last revoked in site/ssl/crl.pem
#   other/  another CA, with its own compiler.example
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ca="$here/../../scripts/puppet-ca.sh"
rm -rf "$here/site" "$here/other"
"$ca" setup "$here/site" server
"$ca" generate "$here/site" compiler.example node1.example revoked.example
"$ca" revoke "$here/site" revoked.example
"$ca" setup "$here/other" server
"$ca" generate "$here/other" compiler.example
# The absolute paths of puppet.conf are of the machine that ran this.
rm -f "$here/site/puppet.conf" "$here/other/puppet.conf"
