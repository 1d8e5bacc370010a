#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/nbd/make-tls-keys.sh DIR: TLS material for tests of NBD over TLS,
# made with GnuTLS's own tools (gnutls-bin: certtool, psktool). Quiet; exit
# status 0 when everything is there.
#
#   DIR/ca-cert.pem, ca-key.pem         a CA
#   DIR/server-cert.pem, server-key.pem the server, for 127.0.0.1 and localhost, signed by the CA
#   DIR/client/                         libnbd's tls-certificates= and qemu's tls-creds-x509 dir= for
#                                       a client: ca-cert.pem, client-cert.pem, client-key.pem
#   DIR/other/                          the same from another CA (the server is untrusted there,
#                                       and its client certificate is refused by the server)
#   DIR/nocert/                         only ca-cert.pem: trusts the server, has no client certificate
#   DIR/keys.psk                        PSK, user alice (psktool's username:hexkey)
#   DIR/psk/keys.psk                    qemu's tls-creds-psk dir= (the same key)
#   DIR/wrong.psk                       alice with another key
set -euo pipefail
D=$1
mkdir -p "$D/client" "$D/other" "$D/nocert" "$D/psk"
cd "$D"

tmpl() { printf '%s\n' "$@" >"$D/t.tmpl"; }

ca() { # DIR
    certtool --generate-privkey --key-type=ecdsa --outfile "$1/ca-key.pem" 2>/dev/null
    tmpl 'cn = mcsi test CA' 'ca' 'cert_signing_key' 'expiration_days = 2'
    certtool --generate-self-signed --load-privkey "$1/ca-key.pem" --template t.tmpl \
        --outfile "$1/ca-cert.pem" >/dev/null 2>&1
}
signed() { # CADIR KEY CERT TEMPLATE-LINES...
    local cadir=$1 key=$2 cert=$3; shift 3
    certtool --generate-privkey --key-type=ecdsa --outfile "$key" 2>/dev/null
    tmpl "$@"
    certtool --generate-certificate --load-privkey "$key" --load-ca-certificate "$cadir/ca-cert.pem" \
        --load-ca-privkey "$cadir/ca-key.pem" --template t.tmpl --outfile "$cert" >/dev/null 2>&1
}

ca "$D"
signed "$D" server-key.pem server-cert.pem 'cn = localhost' 'dns_name = localhost' 'ip_address = 127.0.0.1' \
    'tls_www_server' 'encryption_key' 'signing_key' 'expiration_days = 2'
cp ca-cert.pem client/ca-cert.pem
signed "$D" client/client-key.pem client/client-cert.pem 'cn = mcsi test client' 'tls_www_client' \
    'encryption_key' 'signing_key' 'expiration_days = 2'
cp ca-cert.pem nocert/ca-cert.pem
ca "$D/other"
signed "$D/other" other/client-key.pem other/client-cert.pem 'cn = mcsi test stranger' 'tls_www_client' \
    'encryption_key' 'signing_key' 'expiration_days = 2'
rm -f other/ca-key.pem t.tmpl

psktool -u alice -p keys.psk >/dev/null 2>&1
cp keys.psk psk/keys.psk
psktool -u alice -p wrong.psk >/dev/null 2>&1
chmod 600 ./*key.pem client/*key.pem other/*key.pem ./*.psk psk/keys.psk
test -s server-cert.pem && test -s client/client-cert.pem && test -s other/client-cert.pem && test -s keys.psk
