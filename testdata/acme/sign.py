#!/usr/bin/env python3
"""Signs one ACME request body (flattened JWS, RFC 8555 §6.2) with Python `cryptography`, for
tests/acme.rs, and prints it as JSON on stdout.

    sign.py KEY.pem URL NONCE PAYLOAD [--kid KID] [--eab KEY_ID HMAC_B64URL EAB_URL]
    sign.py KEY.pem --thumbprint      (prints the key's RFC 7638 thumbprint)
    sign.py KEY.pem --jwk             (prints the key's public JWK)

KEY.pem is an EC P-256 private key (ES256), created when the file does not exist. PAYLOAD is
the JSON payload text, or "" for POST-as-GET. NONCE "-" leaves the nonce out (keyChange's
inner JWS). Without --kid the header carries the key as
`jwk`. --eab adds an externalAccountBinding (HS256 over the account key) to the payload.
"""

import base64
import json
import os
import sys
import hmac
import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_key(path: str):
    if not os.path.exists(path):
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def jwk_of(key) -> dict:
    n = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}


def eab(key_id: str, hmac_key: str, url: str, jwk: dict) -> dict:
    protected = b64(json.dumps({"alg": "HS256", "kid": key_id, "url": url}).encode())
    payload = b64(json.dumps(jwk).encode())
    mac = hmac.new(unb64(hmac_key), f"{protected}.{payload}".encode(), hashlib.sha256).digest()
    return {"protected": protected, "payload": payload, "signature": b64(mac)}


def thumbprint(jwk: dict) -> str:
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return b64(hashlib.sha256(canonical.encode()).digest())


def main(argv: list[str]) -> None:
    if argv[1:] == ["--thumbprint"]:
        print(thumbprint(jwk_of(load_key(argv[0]))))
        return
    if argv[1:] == ["--jwk"]:
        print(json.dumps(jwk_of(load_key(argv[0]))))
        return
    key_path, url, nonce, payload_text = argv[:4]
    rest = argv[4:]
    key = load_key(key_path)
    header = {"alg": "ES256", "nonce": nonce, "url": url}
    if nonce == "-":
        del header["nonce"]
    if "--kid" in rest:
        header["kid"] = rest[rest.index("--kid") + 1]
    else:
        header["jwk"] = jwk_of(key)
    if "--eab" in rest:
        i = rest.index("--eab")
        body = json.loads(payload_text)
        body["externalAccountBinding"] = eab(rest[i + 1], rest[i + 2], rest[i + 3], jwk_of(key))
        payload_text = json.dumps(body)
    protected = b64(json.dumps(header).encode())
    payload = b64(payload_text.encode()) if payload_text else ""
    der = key.sign(f"{protected}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    print(json.dumps({"protected": protected, "payload": payload, "signature": signature}))


if __name__ == "__main__":
    main(sys.argv[1:])
