#!/bin/sh
# Re-creates the CSR corpus with OpenSSL. The private keys are thrown away: tests only need
# the requests. Run from this directory: sh make.sh
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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
