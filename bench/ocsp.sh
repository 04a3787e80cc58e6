#!/usr/bin/env bash
# The OCSP responder of `pkictl serve` next to OpenSSL's (`openssl ocsp -index … -port`), in
# one run, on the same machine, with the same load generator (wrk, 64 connections):
# responses/s, p50/p99 latency, and the peak memory of the responder, for ledgers of several
# sizes. OpenSSL's responder serves one connection at a time per child and wedges (its
# children spin, 0 responses) when a client keeps connections alive: it is measured with
# `Connection: close` (a new connection per request, as it expects); pkictl both ways.
# Requests are RFC 5019 style (no nonce, one CertID, POST) for 1000 distinct valid
# serials drawn from the ledger, cycled; pkictl is also measured with a nonce in every
# request (no pre-signed answer can be used: every response is signed).
#
#   bench/ocsp.sh                          # ledgers of 1k and 1M certificates
#   SIZES="1000 100000" bench/ocsp.sh      # other sizes
#   DURATION=20s CONNECTIONS=64 bench/ocsp.sh
#
# Needs: cargo, openssl, python3 with `cryptography` (the test venv at target/interop-venv
# has it), wrk (apt-get install wrk). The ledger is filled with synthetic rows by
# bench/fill-ledger.py: never point this at a real home.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"1000 1000000"}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
REQUESTS=${REQUESTS:-1000}
PY=${PY:-target/interop-venv/bin/python}
if ! command -v wrk >/dev/null && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
for tool in cargo openssl wrk "$PY"; do
    command -v "$tool" >/dev/null || { echo "bench/ocsp.sh: $tool is required" >&2; exit 1; }
done
"$PY" -c 'import cryptography' || { echo "bench/ocsp.sh: $PY has no cryptography (run tests/run.sh once)" >&2; exit 1; }

cargo build --release --locked -q
PK=$PWD/target/release/pkictl
WORK=$(mktemp -d /tmp/pkictl-ocsp-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until PORT answers a real OCSP request from DIR. (Not a bare connect: a connection
# closed before its request wedges a child of OpenSSL's responder for good.)
wait_ocsp() {
    local port=$1 dir=$2
    for _ in $(seq 100); do
        curl -s --max-time 2 --data-binary "@$dir/1.der" -H 'Content-Type: application/ocsp-request' \
            "http://127.0.0.1:$port/ocsp" -o /dev/null && return 0
        sleep 0.1
    done
    return 1
}
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# The wrk script: POST the request files $REQ_DIR/1.der … N.der in turn.
cat > "$WORK/post.lua" <<'EOF'
local dir = os.getenv("REQ_DIR")
local bodies = {}
for i = 1, tonumber(os.getenv("REQ_COUNT")) do
  local f = assert(io.open(dir .. "/" .. i .. ".der", "rb"))
  bodies[i] = f:read("*a")
  f:close()
end
-- wrk.format ignores -H when given headers: ask for Connection: close here.
local headers = { ["Content-Type"] = "application/ocsp-request" }
if os.getenv("CONNECTION_CLOSE") == "1" then headers["Connection"] = "close" end
local n = 0
request = function()
  n = n % #bodies + 1
  return wrk.format("POST", "/ocsp", headers, bodies[n])
end
EOF

# "responses/s p50_ms p99_ms errors" of one wrk run against PORT with requests from DIR over
# CONNS connections, kept alive (CLOSE=0) or one request each (CLOSE=1).
load() {
    local port=$1 dir=$2 conns=$3 close=$4 out=$WORK/wrk.txt
    shift 4
    CONNECTION_CLOSE=$close REQ_DIR=$dir REQ_COUNT=$REQUESTS timeout 120 wrk -t2 -c"$conns" -d"$DURATION" --latency "$@" -s "$WORK/post.lua" \
        "http://127.0.0.1:$port/ocsp" > "$out" 2>&1
    "$PY" - "$out" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*" + label + r"%\s+([\d.]+)(us|ms|s)\b", text, re.M)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{rps:.0f} {ms('50'):.2f} {ms('99'):.2f} {errors + (int(non2xx.group(1)) if non2xx else 0)}")
EOF
}

# Writes N OCSP requests about the first N valid serials of the ledger to DIR (nonce: yes|no),
# and checks one of them against the responder at PORT.
make_requests() {
    local home=$1 dir=$2 nonce=$3
    mkdir -p "$dir"
    "$PY" - "$home" "$dir" "$REQUESTS" "$nonce" <<'EOF'
import hashlib, os, sqlite3, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
home, out, count, nonce = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "yes"
db = sqlite3.connect(f"file:{os.path.join(home, 'ledger.db')}?mode=ro", uri=True)
issuer_id, slug = db.execute("SELECT id, slug FROM authorities WHERE is_default = 1").fetchone()
issuer = x509.load_pem_x509_certificate(open(os.path.join(home, "ca", slug + ".pem"), "rb").read())
serials = [int(s, 16) for (s,) in db.execute(
    "SELECT serial FROM certificates WHERE issuer_id = ? AND status = 'valid' AND authority_id IS NULL "
    "ORDER BY random() LIMIT ?", (issuer_id, count))]
assert len(serials) == count, f"the ledger has only {len(serials)} valid leaves"
# CertID hashes: the issuer's Name DER and its subjectPublicKey (a P-256 point here).
name_hash = hashlib.sha1(issuer.subject.public_bytes()).digest()
key_hash = hashlib.sha1(issuer.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)).digest()
for i, serial in enumerate(serials, 1):
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(name_hash, key_hash, serial, hashes.SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
    open(os.path.join(out, f"{i}.der"), "wb").write(builder.build().public_bytes(Encoding.DER))
EOF
}

# An `openssl ca` index.txt holding every leaf of the ledger, as OpenSSL's responder reads it.
make_index() {
    local home=$1 index=$2
    "$PY" - "$home" "$index" <<'EOF'
import os, sqlite3, sys, time
home, index = sys.argv[1], sys.argv[2]
db = sqlite3.connect(f"file:{os.path.join(home, 'ledger.db')}?mode=ro", uri=True)
issuer_id = db.execute("SELECT id FROM authorities WHERE is_default = 1").fetchone()[0]
with open(index, "w") as f:
    for serial, not_after, subject, status, revoked_at in db.execute(
            "SELECT serial, not_after, subject, status, revoked_at FROM certificates WHERE issuer_id = ?", (issuer_id,)):
        t = lambda s: time.strftime("%y%m%d%H%M%SZ", time.gmtime(s))
        flag, rev = ("R", t(revoked_at)) if status == "revoked" else ("V", "")
        f.write(f"{flag}\t{t(not_after)}\t{rev}\t{serial.lstrip('0').upper() or '0'}\tunknown\t/{subject.replace(',', '/')}\n")
EOF
}

check_answer() {
    local port=$1 dir=$2 issuer=$3 root=$4
    curl -s --max-time 10 --data-binary "@$dir/1.der" -H 'Content-Type: application/ocsp-request' "http://127.0.0.1:$port/ocsp" -o "$WORK/answer.der"
    openssl ocsp -respin "$WORK/answer.der" -issuer "$issuer" -CAfile "$root" -resp_text 2>&1 | grep -q "Cert Status: good" \
        || { echo "bench/ocsp.sh: the responder on $port did not say good:" >&2; openssl ocsp -respin "$WORK/answer.der" -resp_text >&2; exit 1; }
}

printf "| ledger | responder | connections | responses/s | p50 | p99 | errors | peak memory | vs OpenSSL |\n"
printf "|---|---|---|---|---|---|---|---|---|\n"
for size in $SIZES; do
    home=$WORK/home-$size
    "$PK" --home "$home" init --name "Bench Root" --no-passphrase >/dev/null 2>&1
    "$PK" --home "$home" crl >/dev/null
    python3 bench/fill-ledger.py "$home" --valid "$size" >/dev/null
    issuing=$(ls "$home"/ca/*.pem | grep -v bench-root.pem)
    root=$home/ca/bench-root.pem
    make_requests "$home" "$WORK/req-$size" no
    make_requests "$home" "$WORK/nonce-$size" yes
    make_index "$home" "$WORK/index-$size.txt"

    port=$(free_port)
    "$PK" --home "$home" serve --http "127.0.0.1:$port" --no-https --log-format off 2>"$WORK/serve.log" &
    spid=$!; PIDS+=("$spid")
    wait_ocsp "$port" "$WORK/req-$size"
    check_answer "$port" "$WORK/req-$size" "$issuing" "$root"
    read -r p_rps p_p50 p_p99 p_err < <(load "$port" "$WORK/req-$size" "$CONNECTIONS" 0)
    read -r q_rps q_p50 q_p99 q_err < <(load "$port" "$WORK/req-$size" "$CONNECTIONS" 1)
    read -r n_rps n_p50 n_p99 n_err < <(load "$port" "$WORK/nonce-$size" "$CONNECTIONS" 0)
    p_mem=$(peak_kib "$spid")
    kill "$spid"; wait "$spid" 2>/dev/null || true

    # A fresh OpenSSL responder per attempt: when it wedges (0 responses), try again, 3 times.
    key=$(ls "$home"/private/*.key | grep -v bench-root.key)
    for attempt in 1 2 3; do
        oport=$(free_port)
        openssl ocsp -index "$WORK/index-$size.txt" -port "$oport" -rsigner "$issuing" -rkey "$key" -CA "$issuing" \
            -nmin 60 -multi 2 -ignore_err >/dev/null 2>"$WORK/openssl.log" &
        opid=$!; PIDS+=("$opid")
        wait_ocsp "$oport" "$WORK/req-$size"
        check_answer "$oport" "$WORK/req-$size" "$issuing" "$root"
        read -r o_rps o_p50 o_p99 o_err < <(load "$oport" "$WORK/req-$size" "$CONNECTIONS" 1)
        o_mem=$(( $(peak_kib "$opid") + $(for c in $(pgrep -P "$opid"); do peak_kib "$c"; done | awk '{s+=$1} END {print s+0}') ))
        pkill -KILL -P "$opid" 2>/dev/null || true; kill -KILL "$opid" 2>/dev/null || true; wait "$opid" 2>/dev/null || true
        [[ $o_rps != 0 ]] && break
        echo "bench/ocsp.sh: openssl's responder answered nothing (attempt $attempt)" >&2
    done

    ratio() { "$PY" -c "print(f'{$1 / max($2, 1):.1f}x')"; }
    row() { printf "| %s | %s | %s | %s | %s ms | %s ms | %s | %s | %s |\n" "$size" "$@"; }
    row "pkictl serve, pre-signed (RFC 5019)" "$CONNECTIONS, keep-alive" "$p_rps" "$p_p50" "$p_p99" "$p_err" "$((p_mem / 1024)) MiB" "$(ratio "$p_rps" "$o_rps")"
    row "pkictl serve, pre-signed (RFC 5019)" "$CONNECTIONS, one request each" "$q_rps" "$q_p50" "$q_p99" "$q_err" "" "$(ratio "$q_rps" "$o_rps")"
    row "pkictl serve, nonce (signed per request)" "$CONNECTIONS, keep-alive" "$n_rps" "$n_p50" "$n_p99" "$n_err" "" "$(ratio "$n_rps" "$o_rps")"
    row "openssl ocsp -multi 2 (signs every response)" "$CONNECTIONS, one request each" "$o_rps" "$o_p50" "$o_p99" "$o_err" "$((o_mem / 1024)) MiB" "1.0x"
done
