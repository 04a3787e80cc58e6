#!/usr/bin/env python3
"""Fills a pkictl ledger with synthetic certificate rows, for benchmarks only.

Issuing a million real certificates to measure a million-row ledger would take longer than
the measurement, so this helper inserts rows directly: each row copies the DER of the
issuing CA's own certificate (so it is not a real leaf: `pkictl doctor` will say so) with a
fresh random serial and fingerprint, a notAfter spread over the next year, and optionally a
revocation. Never run it on a real home.

    bench/fill-ledger.py HOME --valid N [--revoked R] [--reason key-compromise]
"""

import argparse
import json
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
        db.executemany(sql, rows(args.valid, False))
        db.executemany(sql, rows(args.revoked, True))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
