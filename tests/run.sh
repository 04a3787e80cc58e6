#!/usr/bin/env bash
# The one test command: installs what the interop tests need on a fresh Debian/Ubuntu
# machine, then runs the whole suite (arguments go to `cargo test`, e.g. `--test interop`).
# A missing tool fails the run; nothing is skipped.
#
# - apt (as root; otherwise a message saying what to install): openssl, curl, nginx, python3,
#   python3-venv, faketime, sqlite3, lego, pebble (for pebble-challtestsrv), certbot, caddy and
#   postgresql, each only when missing.
# - a Python venv at target/interop-venv with pkilint and cryptography at the pinned versions
#   below, created or upgraded only when it is missing or differs.
# - exports PKICTL_INTEROP_PYTHON, PKICTL_INTEROP_PKILINT_BIN and PKICTL_INTEROP_NGINX for
#   tests/interop.rs.
# - starts a throwaway PostgreSQL cluster (tests/postgres-cluster.sh: a new temp directory,
#   127.0.0.1 on a free port, run as the unprivileged `postgres` user since PostgreSQL refuses
#   root) and exports PKICTL_TEST_POSTGRES_URL and PGPASSWORD for the PostgreSQL tests (the
#   ledger conformance suite, tests/postgres*.rs, tests/ha.rs), then runs the end-to-end suites
#   (issue, revoke, batch, operate, public_url, serve, agent, acme, acme_challenges,
#   acme_clients) a second time with every test home's ledger on PostgreSQL
#   (PKICTL_TEST_LEDGER=postgres); stops the cluster by its postmaster pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned so that a new release cannot change the outcome of a run by itself; bump deliberately
# (tests/interop.rs pins pkilint's known findings, which a new pkilint may change).
PY_PACKAGES=(pkilint==0.13.3 cryptography==50.0.2)
VENV=target/interop-venv

have() { command -v "$1" >/dev/null 2>&1; }
have_nginx() { have nginx || [[ -x /usr/sbin/nginx ]]; }

# True when the venv runs, has the pinned packages and pkilint's entry points.
venv_ok() {
    [[ -x $VENV/bin/python && -x $VENV/bin/lint_pkix_cert && -x $VENV/bin/lint_crl ]] || return 1
    "$VENV/bin/python" - "${PY_PACKAGES[@]}" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
import cryptography.x509.verification, pkilint  # noqa: F401 (importable)
for spec in sys.argv[1:]:
    name, wanted = spec.split("==")
    if version(name) != wanted:
        sys.exit(1)
EOF
}

need_apt=()
have openssl || need_apt+=(openssl)
have curl || need_apt+=(curl)
have_nginx || need_apt+=(nginx)
# tests/audit.rs tampers with ledgers from outside pkictl, as an operator with sqlite3 would;
# tests/ops.rs needs a clock behind the CA (libfaketime) and a held ledger lock (sqlite3).
have faketime || need_apt+=(faketime)
have sqlite3 || need_apt+=(sqlite3)
# tests/acme.rs gets a certificate from `serve` with a real ACME client.
have lego || need_apt+=(lego)
# tests/acme_challenges.rs answers lego's and the CA's DNS questions (dns-01) with
# pebble-challtestsrv, a DNS server with an HTTP API to set TXT records.
have pebble-challtestsrv || need_apt+=(pebble)
# tests/acme_clients.rs: certbot and Caddy get certificates from `serve`.
have certbot || need_apt+=(certbot)
have caddy || need_apt+=(caddy)
# The ledger on PostgreSQL: Debian's server (initdb, pg_ctl, postgres) and its client tools.
source tests/postgres-cluster.sh
pg_installed() { [[ -n $(pg_bin_dir 2>/dev/null) && -x $(pg_bin_dir 2>/dev/null)/initdb ]]; }
pg_installed || need_apt+=(postgresql)
if ! venv_ok; then
    have python3 || need_apt+=(python3)
    # Debian's python3 cannot make a venv without python3-venv (ensurepip).
    if ! have python3 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        need_apt+=(python3-venv)
    fi
fi

if ((${#need_apt[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "tests/run.sh: missing ${need_apt[*]}; install them (sudo apt-get install ${need_apt[*]}) and re-run" >&2
        exit 1
    fi
    echo "tests/run.sh: installing ${need_apt[*]}" >&2
    # Do not let the nginx package start a system-wide nginx on port 80: the tests run their own.
    added_policy=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
    if [[ -n $added_policy ]]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
fi

for tool in openssl curl cargo python3 lego pebble-challtestsrv; do
    have "$tool" || { echo "tests/run.sh: $tool is required but was not found on PATH" >&2; exit 1; }
done
have_nginx || { echo "tests/run.sh: nginx is required but was not found" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if ! venv_ok; then
    echo "tests/run.sh: setting up $VENV with ${PY_PACKAGES[*]}" >&2
    if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        python3 -m venv --clear "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
    venv_ok || { echo "tests/run.sh: $VENV does not have ${PY_PACKAGES[*]} after pip install" >&2; exit 1; }
fi

export PKICTL_INTEROP_PYTHON="$PWD/$VENV/bin/python"
export PKICTL_INTEROP_PKILINT_BIN="$PWD/$VENV/bin"
export PKICTL_INTEROP_NGINX="$NGINX"

openssl version
"$NGINX" -v 2>&1
curl --version | head -n 1
"$PKICTL_INTEROP_PYTHON" -c 'from importlib.metadata import version as v; print("pkilint", v("pkilint"), "/ cryptography", v("cryptography"))'

unset PKICTL_PG_PID # only the cluster started here is stopped here
pg_cluster_start
trap pg_cluster_stop EXIT

cargo test --locked "$@"

# The CLI's and the online CA's end-to-end suites once more with every home's ledger on
# PostgreSQL (a fresh database per home). Only for the whole run: arguments select tests of the
# first pass. (The suites left out tamper with ledger.db or look at SQLite itself.)
if [[ $# -eq 0 ]]; then
    echo "tests/run.sh: the end-to-end suites again, ledgers on PostgreSQL"
    PKICTL_TEST_LEDGER=postgres cargo test --locked --test issue --test revoke --test batch --test operate \
        --test public_url --test serve --test agent --test acme --test acme_challenges --test acme_clients
fi
