#!/usr/bin/env bash
# The ACME server of `pkictl serve` next to Pebble (the reference ACME test server, Debian's
# package), in one run, on the same machine, with the same load generator
# (examples/acme_load.rs): ORDERS orders by CLIENTS concurrent clients, each order through
# full http-01 validation on loopback (newOrder, authorization, the key authorization served
# by the generator's responder and really fetched by the server, challenge, finalize with a
# fresh P-256 CSR, certificate download). Reports certificates/s and p50/p99 order latency
# per run, the medians over RUNS runs, and pkictl's ratio to Pebble.
#
# Pebble runs with its VA really validating (PEBBLE_VA_NOSLEEP=1: no random sleep before a
# validation; PEBBLE_WFE_NONCEREJECT=0: no random badNonce), resolving every name to
# 127.0.0.1 through pebble-challtestsrv's DNS server. pkictl resolves the same names through
# `serve --acme-resolve`. A server that gives no certificate for STALL seconds is marked hung:
# the run is abandoned and its rate is that of the certificates before.
#
#   bench/acme.sh                                # 1000 orders, 20 clients, 2 runs each
#   ORDERS=2000 CLIENTS=40 RUNS=3 bench/acme.sh
#   SERVERS=pkictl bench/acme.sh                 # one server only
#
# Needs: cargo, openssl, curl, python3, pebble (apt-get install pebble; installed here when
# run as root). Everything lives in a temporary directory; nothing listens beyond 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

ORDERS=${ORDERS:-1000}
CLIENTS=${CLIENTS:-20}
RUNS=${RUNS:-2}
STALL=${STALL:-30}
SERVERS=${SERVERS:-pkictl pebble}
SUFFIX=bench.example
if ! command -v pebble >/dev/null && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pebble >/dev/null
fi
for tool in cargo openssl curl python3 pebble pebble-challtestsrv; do
    command -v "$tool" >/dev/null || { echo "bench/acme.sh: $tool is required (apt-get install pebble for Pebble)" >&2; exit 1; }
done

cargo build --release --locked -q --bin pkictl --example acme_load
PK=$PWD/target/release/pkictl
LOAD=$PWD/target/release/examples/acme_load
WORK=$(mktemp -d /tmp/pkictl-acme-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until URL answers over TLS trusting ROOT.
wait_https() {
    local url=$1 root=$2
    for _ in $(seq 300); do
        curl -s --max-time 2 --cacert "$root" "$url" -o /dev/null && return 0
        sleep 0.1
    done
    echo "bench/acme.sh: $url did not answer" >&2
    return 1
}
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
# Appends the generator's JSON summary with the server's name and run number.
load() {
    local server=$1 run=$2 directory=$3 root=$4 responder=$5
    "$LOAD" --directory "$directory" --root "$root" --responder "$responder" --suffix "$SUFFIX" \
        --orders "$ORDERS" --clients "$CLIENTS" --stall "$STALL" |
        python3 -c 'import json,sys; r=json.load(sys.stdin); r.update(server=sys.argv[1], run=int(sys.argv[2])); print(json.dumps(r))' \
            "$server" "$run" | tee -a "$RESULTS"
}

# One pkictl run: a fresh home, provisioner `load` for *.bench.example, a release `serve`.
run_pkictl() {
    local run=$1 dir=$WORK/pkictl-$run
    mkdir -p "$dir"
    "$PK" --home "$dir/home" init --name "ACME Bench Root" --no-passphrase >/dev/null 2>&1
    "$PK" --home "$dir/home" ca cert "ACME Bench Root" >"$dir/root.pem"
    "$PK" --home "$dir/home" acme add load --profile server --allow "*.$SUFFIX" >/dev/null
    local https=$(free_port) responder=$(free_port) resolve=()
    for ((i = 0; i < ORDERS; i++)); do resolve+=(--acme-resolve "o$i.$SUFFIX=127.0.0.1"); done
    "$PK" --home "$dir/home" serve --http 127.0.0.1:0 --https "127.0.0.1:$https" --name localhost \
        --acme-http01-port "$responder" "${resolve[@]}" 2>"$dir/serve.log" &
    local pid=$!
    PIDS+=("$pid")
    local directory=https://127.0.0.1:$https/acme/load/directory
    wait_https "$directory" "$dir/root.pem"
    load pkictl "$run" "$directory" "$dir/root.pem" "127.0.0.1:$responder"
    local issued
    issued=$("$PK" --home "$dir/home" --json list --acme load | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["certificates"]))')
    echo "  (pkictl's ledger holds $issued certificates of provisioner load)"
    stop "$pid"
}

# Pebble's HTTPS certificate: a throwaway CA and a leaf for 127.0.0.1.
pebble_tls() {
    local dir=$WORK/pebble-tls
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/ca.key" \
        -out "$dir/ca.pem" -days 2 -subj "/CN=Pebble bench CA" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/wfe.key" \
        -out "$dir/wfe.csr" -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' >"$dir/ext"
    openssl x509 -req -in "$dir/wfe.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$dir/ext" -out "$dir/wfe.pem" 2>/dev/null
}

# One Pebble run: a fresh Pebble and pebble-challtestsrv (DNS only: every A query is 127.0.0.1,
# no AAAA), Pebble's VA validating http-01 on the generator's responder port.
run_pebble() {
    local run=$1 dir=$WORK/pebble-$run tls=$WORK/pebble-tls
    mkdir -p "$dir"
    local wfe=$(free_port) mgmt=$(free_port) dns=$(free_port) responder=$(free_port) tlsalpn=$(free_port)
    cat >"$dir/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$wfe", "managementListenAddress": "127.0.0.1:$mgmt",
  "certificate": "$tls/wfe.pem", "privateKey": "$tls/wfe.key", "httpPort": $responder, "tlsPort": $tlsalpn,
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
    pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$dns" -http01 "" \
        -https01 "" -tlsalpn01 "" -management "127.0.0.1:$(free_port)" >"$dir/challtestsrv.log" 2>&1 &
    local dns_pid=$!
    PIDS+=("$dns_pid")
    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 pebble -config "$dir/pebble.json" \
        -dnsserver "127.0.0.1:$dns" >"$dir/pebble.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local directory=https://127.0.0.1:$wfe/dir
    wait_https "$directory" "$tls/ca.pem"
    load pebble "$run" "$directory" "$tls/ca.pem" "127.0.0.1:$responder"
    stop "$pid"
    stop "$dns_pid"
}

echo "ACME: $ORDERS orders by $CLIENTS clients, full http-01 validation on loopback, $RUNS runs each ($(nproc) cores)"
pebble_tls
for ((run = 1; run <= RUNS; run++)); do
    for server in $SERVERS; do "run_$server" "$run"; done
done

python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print()
print(f"{'server':8} {'run':>3} {'certs':>6} {'failed':>6} {'certs/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  hung")
for r in rows:
    print(f"{r['server']:8} {r['run']:>3} {r['certificates']:>6} {r['failed']:>6} {r['certs_per_s']:>8.1f} "
          f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['max_ms']:>8.1f}  {'yes' if r['hung'] else 'no'}")
med = {}
for server in ("pkictl", "pebble"):
    mine = [r for r in rows if r["server"] == server]
    if not mine:
        continue
    med[server] = {k: statistics.median(r[k] for r in mine) for k in ("certs_per_s", "p50_ms", "p99_ms")}
    hung = sum(r["hung"] for r in mine)
    print(f"median {server:8} {med[server]['certs_per_s']:.1f} certificates/s, p50 {med[server]['p50_ms']:.1f} ms, "
          f"p99 {med[server]['p99_ms']:.1f} ms; hung in {hung} of {len(mine)} runs")
p, q = med.get("pkictl"), med.get("pebble")
if p and q and q["certs_per_s"] > 0:
    print(f"pkictl / Pebble: {p['certs_per_s'] / q['certs_per_s']:.2f}x the certificates/s, "
          f"{p['p50_ms'] / q['p50_ms']:.2f}x the p50, {p['p99_ms'] / q['p99_ms']:.2f}x the p99 latency")
EOF
