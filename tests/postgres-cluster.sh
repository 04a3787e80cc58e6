#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `source tests/postgres-cluster.sh` then
# `pg_cluster_start` (exports PKICTL_TEST_POSTGRES_URL, PGPASSWORD, PKICTL_PG_PID) and
# `pg_cluster_stop` (stops the postmaster by its pid, removes the directory).
#
# The cluster lives in a new temp directory, listens on 127.0.0.1 only, on a free port, with
# its Unix socket in that directory (not /var/run), and runs as an unprivileged user:
# PostgreSQL refuses to run as root, so under root it runs as `postgres` (Debian's package
# user) or `nobody`. Password authentication (scram-sha-256) with the password in PGPASSWORD,
# as an operator's deployment would have, so the tests see that no password reaches a home.
# fsync is off for the tests (a throwaway cluster) unless PKICTL_PG_FSYNC=on (the benchmark).

pg_bin_dir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [[ -n $found && -x $found/initdb ]]; then echo "$found"; return; fi
    dirname "$(command -v initdb)"
}

pg_as_user() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_cluster_start() {
    local bin port
    bin=$(pg_bin_dir)
    PG_USER=postgres
    id -u "$PG_USER" >/dev/null 2>&1 || PG_USER=nobody
    PG_DIR=$(mktemp -d /tmp/pkictl-pg.XXXXXX)
    chmod 0755 "$PG_DIR"
    [[ $(id -u) -eq 0 ]] && chown "$PG_USER" "$PG_DIR"
    local password
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    printf '%s\n' "$password" >"$PG_DIR/pwfile"
    [[ $(id -u) -eq 0 ]] && chown "$PG_USER" "$PG_DIR/pwfile"
    pg_as_user "$bin/initdb" -D "$PG_DIR/data" -U pkictl --pwfile="$PG_DIR/pwfile" \
        --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    rm -f "$PG_DIR/pwfile"
    port=$(pg_free_port)
    pg_as_user "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c max_connections=200 -c fsync=${PKICTL_PG_FSYNC:-off}" start \
        >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
    PKICTL_PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
    export PKICTL_PG_PID PG_DIR
    export PGPASSWORD=$password
    export PKICTL_TEST_POSTGRES_URL="postgres://pkictl@127.0.0.1:$port/postgres?sslmode=disable"
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (pid $PKICTL_PG_PID, $PG_DIR)"
}

pg_cluster_stop() {
    [[ -n ${PKICTL_PG_PID:-} ]] || return 0
    # SIGINT: PostgreSQL's "fast" shutdown (roll back sessions, checkpoint, exit).
    kill -INT "$PKICTL_PG_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$PKICTL_PG_PID" 2>/dev/null && ((waited < 100)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    # Still there after 10 s (and so still our postmaster): no more waiting.
    if kill -0 "$PKICTL_PG_PID" 2>/dev/null; then
        kill -KILL "$PKICTL_PG_PID" 2>/dev/null || true
    fi
    rm -rf "$PG_DIR"
    unset PKICTL_PG_PID
}
