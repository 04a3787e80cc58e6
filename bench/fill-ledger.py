#!/usr/bin/env python3
"""Fills a pkictl ledger with synthetic certificate rows, for benchmarks only.

Issuing a million real certificates to measure a million-row ledger would take longer than
the measurement, so this helper inserts rows directly: each row copies the DER of the
issuing CA's own certificate (so it is not a real leaf: `pkictl doctor` will say so) with a
fresh random serial and fingerprint, a notAfter spread over the next year, and optionally a
revocation. Each row gets a chained `ledger.adopt` audit event (the hash format of
src/ledger/chain.rs), so that `pkictl crl` finds the rows explained by the audit chain and
signs. Never run it on a real home.

    bench/fill-ledger.py HOME --valid N [--revoked R] [--reason key-compromise]
"""

import argparse
import hashlib
import json
import struct
import os
import random
import sqlite3
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home")
    parser.add_argument("--valid", type=int, default=0, help="valid rows to add")
    parser.add_argument("--revoked", type=int, default=0, help="revoked (not yet expired) rows to add")
    parser.add_argument("--reason", default="key-compromise")
    args = parser.parse_args()

    db = sqlite3.connect(os.path.join(args.home, "ledger.db"))
    issuer_id, cert_der = db.execute(
        "SELECT a.id, c.der FROM authorities a JOIN certificates c ON c.authority_id = a.id WHERE a.is_default = 1"
    ).fetchone()
    now = int(time.time())
    rng = random.SystemRandom()

    def rows(count: int, revoked: bool):
        for i in range(count):
            serial = "%040x" % rng.getrandbits(126)
            fingerprint = "%064x" % rng.getrandbits(256)
            not_after = now + 86400 * 30 + rng.randrange(86400 * 335)
            name = "fill-%s-%d.example.com" % ("r" if revoked else "v", i)
            yield (
                issuer_id, serial, "client", "CN=" + name, name, json.dumps(["DNS:" + name]),
                "p256", "generated", now - 300, not_after, fingerprint, cert_der,
                "revoked" if revoked else "valid",
                now if revoked else None,
                args.reason if revoked else None,
                now,
            )

    sql = """INSERT INTO certificates (issuer_id, serial, profile, subject, common_name, sans,
                 key_type, key_source, not_before, not_after, fingerprint_sha256, der, status,
                 revoked_at, revocation_reason, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
    with db:
        (first_new,) = db.execute("SELECT coalesce(max(id), 0) + 1 FROM certificates").fetchone()
        db.executemany(sql, rows(args.valid, False))
        db.executemany(sql, rows(args.revoked, True))
        chain_rows(db, first_new, now)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return 0


def field(h, data: bytes) -> None:
    h.update(struct.pack(">Q", len(data)))
    h.update(data)


def event_hash(prev: str, id_: int, at: int, action: str, target: str, detail: str, changes: str) -> str:
    """The hash of a chained event row, as src/ledger/chain.rs computes it."""
    h = hashlib.sha256()
    for part in (b"pkictl audit v1", prev.encode(), struct.pack(">q", id_), struct.pack(">q", at),
                 action.encode(), target.encode(), detail.encode(), changes.encode()):
        field(h, part)
    return h.hexdigest()


def chain_rows(db, first_new: int, now: int) -> None:
    """One chained `ledger.adopt` event per new certificate row (and its revocation)."""
    (next_id, prev) = db.execute(
        "SELECT coalesce(max(id), 0) + 1, (SELECT hash FROM events ORDER BY id DESC LIMIT 1) FROM events"
    ).fetchone()
    prev = prev or "0" * 64
    events = []
    for (id_, issuer, serial, der, not_after, revoked_at, reason) in db.execute(
        "SELECT id, issuer_id, serial, der, not_after, revoked_at, revocation_reason FROM certificates"
        " WHERE id >= ? ORDER BY id", (first_new,)
    ):
        changes = [{"change": "certificate", "id": id_, "issuer_id": issuer, "serial": serial,
                    "der_sha256": hashlib.sha256(der).hexdigest(), "not_after": not_after}]
        if revoked_at is not None:
            changes.append({"change": "revocation", "id": id_, "issuer_id": issuer, "serial": serial,
                            "not_after": not_after, "at": revoked_at, "reason": reason})
        text = json.dumps(changes, separators=(",", ":"))
        digest = event_hash(prev, next_id, now, "ledger.adopt", serial, "{}", text)
        events.append((next_id, now, "ledger.adopt", serial, "{}", text, prev, digest))
        prev, next_id = digest, next_id + 1
    db.executemany(
        "INSERT INTO events (id, at, action, target, detail, changes, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        events,
    )


if __name__ == "__main__":
    sys.exit(main())
