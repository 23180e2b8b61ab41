#!/usr/bin/env bash
# Makes a throwaway certificate authority and a server certificate signed by it, for the TLS
# (wss://) checks: tests/interop/python_websockets_tls.sh, tests/browser/chromium_wss.py and
# tests/e2e/proxies.sh. Nothing here is secret or kept: the keys live in DIR, which the caller
# deletes. P-256 keys, valid 7 days from now.
#
#   bash tests/interop/tls_certs.sh DIR
#
# Writes into DIR (made if missing):
#   CA.pem     the CA's certificate (what a client trusts: `client --ca DIR/CA.pem`)
#   CA.key     the CA's key (only to sign CERT.pem)
#   CERT.pem   the server's certificate: CN=localhost, subjectAltName DNS:localhost,
#              IP:127.0.0.1, IP:::1; serverAuth; followed by CA.pem (the chain a server sends)
#   KEY.pem    the server's key (PKCS#8 PEM)
#   SPKI.txt   base64 of the SHA-256 of the server key's SubjectPublicKeyInfo, on one line
#              (what Chromium's --ignore-certificate-errors-spki-list takes)
# Prints `certificates in DIR` last. Needs the openssl CLI (1.1.1 or 3.x).
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: tls_certs.sh DIR" >&2; exit 2; }
dir=$1
mkdir -p "$dir"
cd "$dir"
command -v openssl >/dev/null || { echo "error: the openssl CLI is needed (Debian: apt-get install openssl)" >&2; exit 1; }

cat >ca.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca_ext
[dn]
CN = rfc6455 test CA (throwaway)
[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF

cat >leaf.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

# The CA: a self-signed certificate for its own key.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out CA.key 2>/dev/null
openssl req -new -x509 -key CA.key -days 7 -sha256 -config ca.cnf -out CA.pem
# The server: a key, a request, and the CA's signature with the leaf extensions.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out KEY.pem 2>/dev/null
openssl req -new -key KEY.pem -config leaf.cnf -out leaf.csr
openssl x509 -req -in leaf.csr -CA CA.pem -CAkey CA.key -set_serial "0x$(openssl rand -hex 8)" \
    -days 7 -sha256 -extfile leaf.cnf -extensions leaf_ext -out leaf.pem 2>/dev/null
cat leaf.pem CA.pem >CERT.pem
openssl verify -CAfile CA.pem leaf.pem >/dev/null
# Chromium's pin: sha256 over the DER SubjectPublicKeyInfo, base64.
openssl x509 -in leaf.pem -noout -pubkey | openssl pkey -pubin -outform DER |
    openssl dgst -sha256 -binary | openssl base64 -A >SPKI.txt
echo >>SPKI.txt
rm -f ca.cnf leaf.cnf leaf.csr leaf.pem CA.srl
echo "certificates in $dir"
