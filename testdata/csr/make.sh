#!/bin/sh
# Re-creates the CSR corpus with OpenSSL. The private keys are thrown away: tests only need
# the requests. Run from this directory: sh make.sh
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# `sh make.sh` re-creates everything; `sh make.sh extra` only the requests added for
# tests/issue.rs (at the end), leaving the original corpus byte for byte as it is.
if [ "${1:-}" != extra ]; then
req() { # name, -newkey spec, extra args...
    name=$1; spec=$2; shift 2
    openssl req -new -newkey "$spec" "$@" -nodes -keyout "$tmp/$name.key" \
        -subj "/CN=$name.example.com/O=Acme" \
        -addext "subjectAltName=DNS:$name.example.com,DNS:alt-$name.example.com,IP:10.1.1.1" \
        -out "$name.csr"
}
req p256 ec -pkeyopt ec_paramgen_curve:P-256
req p384 ec -pkeyopt ec_paramgen_curve:P-384
req rsa2048 rsa:2048
req rsa4096 rsa:4096
req rsa1024 rsa:1024
req p521 ec -pkeyopt ec_paramgen_curve:P-521
openssl req -new -newkey ed25519 -nodes -keyout "$tmp/ed.key" -subj "/CN=ed25519.example.com" -out ed25519.csr
# Asks to be a CA: must still get a leaf.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/ca.key" \
    -subj "/CN=wants-ca.example.com" -addext "subjectAltName=DNS:wants-ca.example.com" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out wants-ca.csr
# No SAN and a CN that is not a host name.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/nosan.key" \
    -subj "/CN=Billing Service" -out no-san.csr
# DER form of the P-256 request.
openssl req -in p256.csr -outform DER -out p256.der
# One byte of the signature flipped (the last byte of the DER is inside the signature).
openssl req -in p256.csr -outform DER -out "$tmp/flip.der"
python3 -c "import sys; d=bytearray(open(sys.argv[1],'rb').read()); d[-1]^=1; open(sys.argv[2],'wb').write(d)" "$tmp/flip.der" bad-signature.der
# A certificate where a CSR is expected.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/c.key" \
    -subj "/CN=not-a-csr.example.com" -days 1 -out certificate.pem
printf 'this is not a CSR\n' > garbage.csr
: > empty.csr
head -c 200 p256.csr > truncated.csr
fi

# Added for tests/issue.rs.
# RSA-PSS and SHA-1 signatures: algorithms pkictl does not accept.
openssl req -new -newkey rsa:2048 -nodes -keyout "$tmp/pss.key" -sigopt rsa_padding_mode:pss -sha256 \
    -subj "/CN=pss.example.com" -addext "subjectAltName=DNS:pss.example.com" -out rsa-pss.csr
openssl req -new -newkey rsa:2048 -nodes -keyout "$tmp/sha1.key" -sha1 \
    -subj "/CN=sha1.example.com" -addext "subjectAltName=DNS:sha1.example.com" -out sha1.csr
# A SAN that is not a valid DNS name: refused like the same name on the command line.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/badsan.key" \
    -subj "/CN=bad-san.example.com" -addext "subjectAltName=DNS:bad-san.example.com,DNS:foo_bar.example" \
    -out bad-san.csr
# A client request: a CN that is no host name, an email and a SPIFFE ID.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/client.key" \
    -subj "/CN=Billing Service" \
    -addext "subjectAltName=email:billing@example.com,URI:spiffe://example.org/ns/billing/sa/api" \
    -out client-names.csr
# Upper-case and duplicate DNS names: lower-cased and de-duplicated.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/mixed.key" \
    -subj "/CN=Mixed.Example.COM" \
    -addext "subjectAltName=DNS:API.Example.COM,DNS:api.example.com,DNS:mixed.example.com" \
    -out mixed-case.csr
