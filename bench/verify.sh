#!/usr/bin/env bash
# `pkictl verify` of a 3-certificate chain (P-256 root, intermediate, server leaf) with the CRLs
# of both CAs, one process per verification, next to `openssl verify -x509_strict -crl_check_all`
# on the same files; then the same verification as a library call in a loop
# (examples/verify_loop.rs). Uses hyperfine when installed, else a shell loop (RUNS times each).
#
#   bench/verify.sh                   # release build, 200 runs each
#   RUNS=50 PKICTL=target/debug/pkictl bench/verify.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-200}
if [[ -z ${PKICTL:-} ]]; then
    cargo build --release --locked -q
    PKICTL=$PWD/target/release/pkictl
fi
cargo build --release --locked -q --example verify_loop
LOOP=$PWD/target/release/examples/verify_loop
WORK=$(mktemp -d /tmp/pkictl-bench-verify.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

ca_ext='basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always'
printf '%s\n' "$ca_ext" > ca.ext
grep -v authorityKeyIdentifier ca.ext > root.ext
printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' \
    'extendedKeyUsage=serverAuth' 'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid' \
    'subjectAltName=DNS:api.partner.test' > leaf.ext

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
key root; key inter; key leaf
openssl req -new -key root.key -subj /CN=Bench\ Root -out root.csr
openssl x509 -req -in root.csr -signkey root.key -extfile root.ext -days 3650 -out root.pem 2>/dev/null
openssl req -new -key inter.key -subj /CN=Bench\ Issuing -out inter.csr
openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -set_serial 2 -extfile ca.ext -days 3650 -out inter.pem 2>/dev/null
openssl req -new -key leaf.key -subj /CN=api.partner.test -out leaf.csr
openssl x509 -req -in leaf.csr -CA inter.pem -CAkey inter.key -set_serial 3 -extfile leaf.ext -days 90 -out leaf.pem 2>/dev/null

# One CRL per CA, from a minimal `openssl ca` database, each with a few revoked serials.
crl() {
    local name=$1 cert=$2 key=$3
    mkdir -p "db-$name"
    : > "db-$name/index.txt"
    echo 01 > "db-$name/crlnumber"
    for serial in 10 11 12 13; do
        printf 'R\t301231235959Z\t250101000000Z,keyCompromise\t%s\tunknown\t/CN=gone-%s\n' "$serial" "$serial" >> "db-$name/index.txt"
    done
    cat > "db-$name/ca.cnf" <<EOF
[ca]
default_ca = d
[d]
database = $WORK/db-$name/index.txt
crlnumber = $WORK/db-$name/crlnumber
default_md = sha256
default_crl_days = 7
certificate = $WORK/$cert
private_key = $WORK/$key
EOF
    openssl ca -config "db-$name/ca.cnf" -gencrl -out "$name.crl" 2>/dev/null
}
crl root root.pem root.key
crl inter inter.pem inter.key

PK_CMD="$PKICTL --home $WORK/no-home verify leaf.pem --chain inter.pem --trust root.pem --crl inter.crl --crl root.crl --purpose server --host api.partner.test"
OS_CMD="openssl verify -x509_strict -purpose sslserver -verify_hostname api.partner.test -crl_check_all -CAfile root.pem -untrusted inter.pem -CRLfile inter.crl -CRLfile root.crl leaf.pem"
$PK_CMD > pkictl.out || { cat pkictl.out; echo "bench/verify.sh: pkictl refused the chain" >&2; exit 1; }
$OS_CMD > openssl.out || { cat openssl.out; echo "bench/verify.sh: openssl refused the chain" >&2; exit 1; }

if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 10 --runs "$RUNS" --export-markdown results.md \
        -n "pkictl verify" "$PK_CMD" -n "openssl verify" "$OS_CMD"
    cat results.md
else
    loop() {
        local started ended
        started=$(date +%s%N)
        for _ in $(seq "$RUNS"); do $1 >/dev/null; done
        ended=$(date +%s%N)
        echo "$2: $(( (ended - started) / RUNS / 1000 )) µs per verification (mean of $RUNS, shell loop)"
    }
    loop "$PK_CMD" "pkictl verify"
    loop "$OS_CMD" "openssl verify"
fi
# The same verification as a library call in one process (no process start-up), next to
# OpenSSL verifying the chain once per process.
"$LOOP" "$((RUNS * 10))" leaf.pem inter.pem root.pem api.partner.test inter.crl root.crl
