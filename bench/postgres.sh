#!/usr/bin/env bash
# The ledger on PostgreSQL next to SQLite: issuance per second (one process per certificate,
# and `issue --batch`) and signing a CRL of many entries. Both homes are P-256, a root and an
# issuing intermediate, unencrypted keys (no scrypt per command). PostgreSQL is a throwaway
# local cluster (tests/postgres-cluster.sh) unless PKICTL_BENCH_POSTGRES_URL names a server
# (its password in PGPASSWORD); a real deployment adds the network round trips.
#
#   bench/postgres.sh                        # 200 single issues, a batch of 2000, CRL of 100k
#   SINGLE=50 BATCH=500 REVOKED=10000 bench/postgres.sh
#   PKICTL=target/debug/pkictl bench/postgres.sh   # skip the release build
set -euo pipefail
cd "$(dirname "$0")/.."

SINGLE=${SINGLE:-200}
BATCH=${BATCH:-2000}
REVOKED=${REVOKED:-100000}
if [[ -z ${PKICTL:-} ]]; then
    cargo build --release --locked -q
    PKICTL=$PWD/target/release/pkictl
fi
WORK=$(mktemp -d /tmp/pkictl-bench-pg.XXXXXX)
source tests/postgres-cluster.sh
export PKICTL_PG_FSYNC=on # durable commits, as SQLite's synchronous = FULL
unset PKICTL_PG_PID # only a cluster this script starts is stopped by it
cleanup() { pg_cluster_stop; rm -rf "$WORK"; }
trap cleanup EXIT
if [[ -n ${PKICTL_BENCH_POSTGRES_URL:-} ]]; then
    SERVER=$PKICTL_BENCH_POSTGRES_URL
else
    pg_cluster_start >&2
    SERVER=$PKICTL_TEST_POSTGRES_URL
fi

# A new database on the server; prints its URL.
new_database() {
    local name=pkictl_bench_$1_$RANDOM
    psql -q -X "$SERVER" -c "CREATE DATABASE $name" >/dev/null
    python3 - "$SERVER" "$name" <<'PY'
import sys
url, name = sys.argv[1], sys.argv[2]
base, _, query = url.partition("?")
print(base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else ""))
PY
}

seconds() {
    python3 - "$@" <<'PY'
import subprocess, sys, time
start = time.monotonic()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"{time.monotonic() - start:.3f}")
PY
}

rate() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.1f}')" "$1" "$2"; }

init_home() {
    local home=$1; shift
    "$PKICTL" --home "$home" init --name "Bench Root" --no-passphrase "$@" >/dev/null 2>&1
}

issue_singles() {
    local home=$1
    local start end
    start=$(date +%s.%N)
    for i in $(seq 1 "$SINGLE"); do
        "$PKICTL" --home "$home" issue client "single-$i@example.com" --out "$WORK/out-$(basename "$home")" >/dev/null
    done
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.3f}')"
}

seq 1 "$BATCH" | sed 's/^/batch-/; s/$/@example.com/' >"$WORK/batch.txt"

echo "backend     single issue/s   batch issue/s   CRL of $REVOKED entries"
for backend in sqlite postgres; do
    home=$WORK/$backend
    if [[ $backend == postgres ]]; then
        init_home "$home" --ledger "$(new_database issue)"
    else
        init_home "$home"
    fi
    single_s=$(issue_singles "$home")
    batch_s=$(seconds "$PKICTL" --home "$home" issue client --batch "$WORK/batch.txt" --out "$WORK/batch-$backend")

    # The CRL: synthetic revoked rows (bench/fill-ledger.py writes SQLite), then for
    # PostgreSQL the same ledger moved with `ledger migrate`.
    crl_home=$WORK/crl-$backend
    init_home "$crl_home"
    python3 bench/fill-ledger.py "$crl_home" --revoked "$REVOKED" >/dev/null
    if [[ $backend == postgres ]]; then
        "$PKICTL" --home "$crl_home" ledger migrate --to "$(new_database crl)" >/dev/null
    fi
    crl_s=$(seconds "$PKICTL" --home "$crl_home" crl --out "$WORK/crl-$backend.pem")
    entries=$(openssl crl -in "$WORK/crl-$backend.pem" -noout -text | grep -c 'Serial Number:')
    [[ $entries -eq $REVOKED ]] || { echo "bench/postgres.sh: the $backend CRL has $entries entries, not $REVOKED" >&2; exit 1; }
    printf '%-11s %-16s %-15s %s s\n' "$backend" "$(rate "$SINGLE" "$single_s")" "$(rate "$BATCH" "$batch_s")" "$crl_s"
done
