#!/usr/bin/env bash
# pkictl next to `openssl ca`: per-command issuance, CRLs of many entries, issuance into big
# ledgers, batch issuance. P-256 everywhere, a root and an issuing intermediate on both sides,
# `rand_serial` for openssl ca. Needs: cargo, openssl, python3, hyperfine, /usr/bin/time.
#
#   bench/compare.sh                 # everything (about 10 minutes on 2 cores)
#   W2="1000 10000" W3="10000" bench/compare.sh   # smaller sizes
#   BENCH_DIR=/some/disk bench/compare.sh          # where homes and files go
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-100}
W2=${W2:-"1000 10000 100000 1000000"}
W3=${W3:-"10000 100000 1000000"}
BATCH=${BATCH:-10000}
if ! command -v hyperfine >/dev/null || [[ ! -x /usr/bin/time ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine time >/dev/null
    fi
fi
for tool in cargo openssl python3 hyperfine /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench/compare.sh: $tool is required (apt-get install hyperfine time)" >&2; exit 1; }
done

cargo build --release --locked -q
PK=$PWD/target/release/pkictl
FILL="python3 $PWD/bench/fill-ledger.py"
WORK=${BENCH_DIR:-$(mktemp -d /tmp/pkictl-bench.XXXXXX)}
mkdir -p "$WORK"
RESULTS=$WORK/results.txt
: > "$RESULTS"
export PKICTL_PASSPHRASE=bench-passphrase

record() { echo "$*" | tee -a "$RESULTS"; }
# median seconds of a hyperfine run, from its JSON export
median() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['median'])" "$1"; }
# "elapsed_s peak_kib" of one command, by /usr/bin/time -v
measure() {
    /usr/bin/time -v "$@" >/dev/null 2>"$WORK/time.txt" || { cat "$WORK/time.txt" >&2; return 1; }
    python3 - "$WORK/time.txt" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
h, m, s = wall.groups()
seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
print(f"{seconds:.3f} {rss}")
EOF
}

# ---------------------------------------------------------------- openssl ca, P-256, 2 tiers
setup_openssl_ca() {
    local d=$1
    mkdir -p "$d/newcerts"
    : > "$d/index.txt"
    echo "unique_subject = no" > "$d/index.txt.attr"
    cat > "$d/openssl.cnf" <<EOF
[ ca ]
default_ca = issuing
[ issuing ]
dir = $d
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
certificate = \$dir/issuing.pem
private_key = \$dir/issuing.key
rand_serial = yes
crlnumber = \$dir/crlnumber
default_md = sha256
default_days = 90
default_crl_days = 7
policy = policy_any
copy_extensions = copy
unique_subject = no
[ policy_any ]
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = placeholder
[ root_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ issuing_ext ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
    echo 01 > "$d/crlnumber"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/root.key" 2>/dev/null
    openssl req -x509 -new -key "$d/root.key" -subj "/CN=Bench OpenSSL Root" -days 3650 \
        -config "$d/openssl.cnf" -extensions root_ext -out "$d/root.pem"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/issuing.key" 2>/dev/null
    openssl req -new -key "$d/issuing.key" -subj "/CN=Bench OpenSSL Issuing CA" -out "$d/issuing.csr" -config "$d/openssl.cnf"
    openssl x509 -req -in "$d/issuing.csr" -CA "$d/root.pem" -CAkey "$d/root.key" -CAcreateserial -days 1825 \
        -extfile "$d/openssl.cnf" -extensions issuing_ext -out "$d/issuing.pem" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/client.key" \
        -subj "/CN=bench.example.com" -addext "subjectAltName=DNS:bench.example.com" -out "$d/client.csr" 2>/dev/null
}

# an openssl ca database holding N entries, R of them revoked (format of index.txt)
fill_openssl_index() {
    python3 - "$1" "$2" "$3" <<'EOF'
import random, sys
path, valid, revoked = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.SystemRandom()
with open(path, "w") as f:
    for i in range(valid + revoked):
        serial = "%032X" % rng.getrandbits(127)
        if i < revoked:
            f.write(f"R\t271231000000Z\t261128000000Z,keyCompromise\t{serial}\tunknown\t/CN=fill-{i}.example.com\n")
        else:
            f.write(f"V\t271231000000Z\t\t{serial}\tunknown\t/CN=fill-{i}.example.com\n")
EOF
}

OSSL=$WORK/openssl-ca
rm -rf "$OSSL"; setup_openssl_ca "$OSSL" >/dev/null
OSSL_ISSUE="openssl ca -batch -config $OSSL/openssl.cnf -extensions client_ext -in $OSSL/client.csr -out $OSSL/out.pem"
OSSL_KEY_AND_ISSUE="sh -c 'openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $OSSL/k.pem -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com -out $OSSL/k.csr 2>/dev/null && $OSSL_ISSUE 2>/dev/null'"

new_home() { rm -rf "$1"; "$PK" --home "$1" init --name "Bench Root" "${@:2}" >/dev/null 2>&1; }

# ---------------------------------------------------------------- the machine
record "# pkictl vs openssl ca, $(date -u +%Y-%m-%dT%H:%MZ)"
record "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
record "disk: $(df -T "$WORK" | awk 'NR==2 {print $2}') at $WORK; $(openssl version); pkictl $("$PK" --version | cut -d' ' -f2)"

# ---------------------------------------------------------------- W1: one issue per process
new_home "$WORK/w1" --no-passphrase
new_home "$WORK/w1enc"
hyperfine -N -w 5 -r "$RUNS" --export-json "$WORK/w1-pk.json" \
    "$PK --home $WORK/w1 issue client bench.example.com --out $WORK/w1-out --force" >/dev/null
hyperfine -N -w 5 -r "$RUNS" --export-json "$WORK/w1-pkenc.json" \
    "$PK --home $WORK/w1enc issue client bench.example.com --out $WORK/w1-out --force" >/dev/null
hyperfine -N -w 5 -r "$RUNS" --export-json "$WORK/w1-ossl.json" "$OSSL_ISSUE" >/dev/null 2>&1
hyperfine -w 5 -r "$RUNS" --export-json "$WORK/w1-osslkey.json" "$OSSL_KEY_AND_ISSUE" >/dev/null 2>&1
w1_pk=$(median "$WORK/w1-pk.json"); w1_enc=$(median "$WORK/w1-pkenc.json")
w1_ossl=$(median "$WORK/w1-ossl.json"); w1_osslkey=$(median "$WORK/w1-osslkey.json")
record "W1 issue client, one process each ($RUNS runs, median): pkictl $(python3 -c "print(f'{$w1_pk*1000:.1f}')") ms" \
    "(new key + certificate); with an encrypted CA key $(python3 -c "print(f'{$w1_enc*1000:.1f}')") ms;" \
    "openssl ca (CSR given) $(python3 -c "print(f'{$w1_ossl*1000:.1f}')") ms;" \
    "openssl req + openssl ca (new key) $(python3 -c "print(f'{$w1_osslkey*1000:.1f}')") ms;" \
    "ratio openssl ca / pkictl $(python3 -c "print(f'{$w1_ossl/$w1_pk:.1f}')")x," \
    "same job $(python3 -c "print(f'{$w1_osslkey/$w1_pk:.1f}')")x"

# ---------------------------------------------------------------- W2: CRL of R entries
for r in $W2; do
    new_home "$WORK/w2" --no-passphrase
    $FILL "$WORK/w2" --revoked "$r"
    read -r pk_s pk_kib < <(measure "$PK" --home "$WORK/w2" crl --der --out "$WORK/w2.crl")
    fill_openssl_index "$OSSL/index.txt" 0 "$r"
    read -r os_s os_kib < <(measure openssl ca -gencrl -config "$OSSL/openssl.cnf" -crlexts crl_ext -out "$WORK/w2-ossl.crl")
    entries=$(openssl crl -inform DER -in "$WORK/w2.crl" -noout -text | grep -c "Serial Number" || true)
    record "W2 CRL of $r revoked: pkictl ${pk_s} s, $((pk_kib / 1024)) MiB peak ($entries entries," \
        "$(stat -c %s "$WORK/w2.crl") bytes); openssl ca -gencrl ${os_s} s, $((os_kib / 1024)) MiB;" \
        "ratio $(python3 -c "print(f'{$os_s/max($pk_s,1e-3):.1f}')")x"
done
: > "$OSSL/index.txt"

# ---------------------------------------------------------------- W3: issue into big ledgers
for n in $W3; do
    new_home "$WORK/w3" --no-passphrase
    $FILL "$WORK/w3" --valid "$n"
    hyperfine -N -w 3 -r 30 --export-json "$WORK/w3.json" \
        "$PK --home $WORK/w3 issue client bench.example.com --out $WORK/w3-out --force" >/dev/null
    w3=$(median "$WORK/w3.json")
    hyperfine -N -w 2 -r 10 -i --export-json "$WORK/w3-list.json" \
        "$PK --home $WORK/w3 list --expiring-within 30d" >/dev/null
    record "W3 issue into a ledger of $n: pkictl $(python3 -c "print(f'{$w3*1000:.1f}')") ms" \
        "($(python3 -c "print(f'{$w3/$w1_pk:.2f}')")x the empty ledger);" \
        "list --expiring-within 30d $(python3 -c "print(f'{$(median "$WORK/w3-list.json")*1000:.0f}')") ms"
done
fill_openssl_index "$OSSL/index.txt" 100000 0
hyperfine -N -w 2 -r 10 --export-json "$WORK/w3-ossl.json" "$OSSL_ISSUE" >/dev/null 2>&1
record "W3 openssl ca with 100000 records in index.txt: $(python3 -c "print(f'{$(median "$WORK/w3-ossl.json")*1000:.1f}')") ms per certificate"
: > "$OSSL/index.txt"

# ---------------------------------------------------------------- W4: batch issuance
new_home "$WORK/w4" --no-passphrase
python3 -c "import sys; [print(f'dev{i}.fleet.example.com') for i in range(int(sys.argv[1]))]" "$BATCH" > "$WORK/w4.txt"
sync
read -r w4_s w4_kib < <(measure "$PK" --home "$WORK/w4" issue client --batch "$WORK/w4.txt" --out "$WORK/w4-out")
ceiling=$(cargo bench --bench ceiling -q 2>/dev/null | tail -1)
record "W4 batch of $BATCH client certificates: $(python3 -c "print(f'{$BATCH/$w4_s:.0f}')") certificates/s" \
    "(${w4_s} s, $((w4_kib / 1024)) MiB peak, 4 files each); p256 keygen+sign ceiling: $ceiling"

echo "results in $RESULTS"
