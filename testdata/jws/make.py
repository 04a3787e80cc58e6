#!/usr/bin/env python3
"""Recreates testdata/jws/vectors.json: ACME request bodies (flattened JWS, RFC 8555 §6.2)
signed by Python `cryptography` with fresh throwaway keys, for src/acme/jws_tests.rs.

    target/interop-venv/bin/python testdata/jws/make.py

Every negative case is signed correctly apart from the one fault it is named for, so the
Rust side must refuse it for that reason. Thumbprints (RFC 7638) are computed here too.
"""

import base64
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
URL = "https://ca.test:8443/acme/web/new-account"
NONCE = "dGVzdC1ub25jZS0x"
KID = "https://ca.test:8443/acme/web/account/1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(value: int, size: int | None = None) -> bytes:
    size = size or (value.bit_length() + 7) // 8
    return value.to_bytes(size, "big")


def jwk_of(key) -> dict:
    pub = key.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        size = {"secp256r1": 32, "secp384r1": 48}[pub.curve.name]
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[pub.curve.name]
        n = pub.public_numbers()
        return {"kty": "EC", "crv": crv, "x": b64(int_bytes(n.x, size)), "y": b64(int_bytes(n.y, size))}
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        return {"kty": "RSA", "n": b64(int_bytes(n.n)), "e": b64(int_bytes(n.e))}
    raw = pub.public_bytes_raw()
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}


def spki_of(key) -> str:
    """The SubjectPublicKeyInfo DER a certificate for this key would carry, base64url."""
    return b64(key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def thumbprint(jwk: dict) -> str:
    required = {"EC": ["crv", "kty", "x", "y"], "RSA": ["e", "kty", "n"], "OKP": ["crv", "kty", "x"]}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64(hashlib.sha256(canonical.encode()).digest())


def sign(key, alg: str, data: bytes) -> bytes:
    if alg in ("ES256", "ES384"):
        digest = hashes.SHA256() if alg == "ES256" else hashes.SHA384()
        size = 32 if alg == "ES256" else 48
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        return int_bytes(r, size) + int_bytes(s, size)
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "EdDSA":
        return key.sign(data)
    if alg.startswith("HS"):
        return hmac.new(key, data, {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}[alg]).digest()
    raise ValueError(alg)


def jws(key, header, payload: bytes | str, alg=None, *, protected_text=None, payload_b64=None, mangle=None):
    """A flattened JWS; `protected_text` gives the exact header JSON (for duplicates)."""
    protected = b64((protected_text or json.dumps(header, separators=(",", ":"))).encode())
    payload_b64 = b64(payload.encode() if isinstance(payload, str) else payload) if payload_b64 is None else payload_b64
    signature = sign(key, alg or header["alg"], f"{protected}.{payload_b64}".encode())
    body = {"protected": protected, "payload": payload_b64, "signature": b64(signature)}
    if mangle:
        mangle(body)
    return body


def header(alg, key=None, *, kid=None, **extra):
    h = {"alg": alg, "nonce": NONCE, "url": URL}
    if key is not None:
        h["jwk"] = jwk_of(key)
    if kid is not None:
        h["kid"] = kid
    h.update(extra)
    return h


def main():
    keys = {
        "es256": ec.generate_private_key(ec.SECP256R1()),
        "es384": ec.generate_private_key(ec.SECP384R1()),
        "rs256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "eddsa": ed25519.Ed25519PrivateKey.generate(),
    }
    alg_of = {"es256": "ES256", "es384": "ES384", "rs256": "RS256", "eddsa": "EdDSA"}
    payload = json.dumps({"termsOfServiceAgreed": True, "contact": ["mailto:ops@example.test"]})
    cases = []

    def case(name, body, expect="ok", **extra):
        text = body if isinstance(body, str) else json.dumps(body)
        cases.append({"name": name, "body": text, "expect": expect, **extra})

    token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
    for name, key in keys.items():
        jwk = jwk_of(key)
        key_authorization = f"{token}.{thumbprint(jwk)}"
        dns01 = b64(hashlib.sha256(key_authorization.encode()).digest())
        case(f"ok_{name}_jwk", jws(key, header(alg_of[name], key), payload), thumbprint=thumbprint(jwk),
             token=token, key_authorization=key_authorization, dns01=dns01, spki=spki_of(key))
        case(f"ok_{name}_kid", jws(key, header(alg_of[name], kid=KID), payload), key=name)
        case(f"ok_{name}_post_as_get", jws(key, header(alg_of[name], kid=KID), "", payload_b64=""), key=name)

    es256 = keys["es256"]
    rsa_key = keys["rs256"]

    # ECDSA signatures are valid with s and with n - s; some clients send the high one.
    p256_order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

    def high_s(body):
        protected, payload_b64 = body["protected"], body["payload"]
        r, s = decode_dss_signature(es256.sign(f"{protected}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256())))
        s = max(s, p256_order - s)
        body["signature"] = b64(int_bytes(r, 32) + int_bytes(s, 32))

    case("ok_es256_high_s", jws(es256, header("ES256", kid=KID), payload, mangle=high_s), key="es256")

    def flip_signature(body):
        raw = bytearray(base64.urlsafe_b64decode(body["signature"] + "=="))
        raw[5] ^= 0x01
        body["signature"] = b64(bytes(raw))

    for name, key in keys.items():
        case(f"bad_signature_{name}", jws(key, header(alg_of[name], key), payload, mangle=flip_signature), "BadSignature")
    case("bad_signature_kid_other_key", jws(ec.generate_private_key(ec.SECP256R1()), header("ES256", kid=KID), payload),
         "BadSignature", key="es256")
    case("alg_key_mismatch_es384_on_p256", jws(es256, header("ES384", es256), payload, alg="ES256"), "AlgorithmKeyMismatch")
    case("alg_key_mismatch_rs256_on_ed25519", jws(keys["eddsa"], header("RS256", keys["eddsa"]), payload, alg="EdDSA"),
         "AlgorithmKeyMismatch")
    case("alg_key_mismatch_kid", jws(es256, header("ES256", kid=KID), payload), "AlgorithmKeyMismatch", key="rs256")
    none_protected = b64(json.dumps(header("none", es256)).encode())
    case("alg_none", {"protected": none_protected, "payload": b64(payload.encode()), "signature": ""}, "UnsupportedAlgorithm")
    case("alg_hs256_outer", jws(b"0123456789abcdef0123456789abcdef", header("HS256", kid=KID), payload),
         "UnsupportedAlgorithm")
    case("alg_lowercase", jws(es256, header("es256", es256), payload, alg="ES256"), "UnsupportedAlgorithm")

    def pad(member):
        def mangle(body):
            body[member] += "=" * (-len(body[member]) % 4 or 4)
        return mangle

    # A header whose base64url needs padding (length not a multiple of 3).
    padded_header = header("ES256", es256)
    while len(json.dumps(padded_header, separators=(",", ":"))) % 3 == 0:
        padded_header["url"] += "x"
    case("padded_protected", jws(es256, padded_header, payload, mangle=pad("protected")), "Base64")
    case("padded_signature", jws(es256, header("ES256", es256), payload, mangle=pad("signature")), "Base64")
    # Bytes whose standard base64 has '+' and '/': the same value in the wrong alphabet.
    std_payload = base64.b64encode(b"\xfb\xff\xbf" * 8).decode()
    case("standard_alphabet_payload", jws(es256, header("ES256", es256), b"", payload_b64=std_payload), "Base64")
    case("both_jwk_and_kid", jws(es256, header("ES256", es256, kid=KID), payload), "BothJwkAndKid")
    case("neither_jwk_nor_kid", jws(es256, header("ES256"), payload), "NoKey")
    dup = json.dumps(header("ES256", es256), separators=(",", ":"))
    dup = dup[:-1] + ',"url":"https://evil.test/acme/new-account"}'
    case("duplicate_header_member", jws(es256, None, payload, alg="ES256", protected_text=dup), "DuplicateMember")
    jwk_with_dup = json.dumps(header("ES256", es256), separators=(",", ":")).replace('"kty":"EC"', '"kty":"EC","kty":"EC"')
    case("duplicate_jwk_member", jws(es256, None, payload, alg="ES256", protected_text=jwk_with_dup), "DuplicateMember")
    good = json.dumps(jws(es256, header("ES256", es256), payload))
    case("duplicate_top_level_member", good[:-1] + ', "payload": ""}', "DuplicateMember")
    private_ec = header("ES256", es256)
    private_ec["jwk"]["d"] = b64(int_bytes(es256.private_numbers().private_value, 32))
    case("private_member_ec_d", jws(es256, private_ec, payload), "PrivateKeyMember")
    private_rsa = header("RS256", rsa_key)
    private_rsa["jwk"]["p"] = b64(int_bytes(rsa_key.private_numbers().p))
    case("private_member_rsa_p", jws(rsa_key, private_rsa, payload), "PrivateKeyMember")
    small = rsa.generate_private_key(public_exponent=65537, key_size=2047)
    case("rsa_2047_bits", jws(small, header("RS256", small), payload), "RsaModulusSize")
    off_curve = header("ES256", es256)
    y = int.from_bytes(base64.urlsafe_b64decode(off_curve["jwk"]["y"] + "=="), "big")
    off_curve["jwk"]["y"] = b64(int_bytes(y ^ 1, 32))
    case("p256_point_not_on_curve", jws(es256, off_curve, payload), "InvalidPoint")
    short_x = header("ES256", es256)
    short_x["jwk"]["x"] = b64(base64.urlsafe_b64decode(short_x["jwk"]["x"] + "==")[1:])
    case("p256_short_coordinate", jws(es256, short_x, payload), "CoordinateLength")
    x25519 = header("EdDSA", keys["eddsa"])
    x25519["jwk"]["crv"] = "X25519"
    case("okp_x25519", jws(keys["eddsa"], x25519, payload), "UnsupportedCurve")
    big = json.dumps({"csr": "A" * (49 * 1024)})
    case("oversize", jws(es256, header("ES256", es256), big), "TooLarge")

    def unprotected(body):
        body["header"] = {"kid": KID}

    case("unprotected_header_member", jws(es256, header("ES256", es256), payload, mangle=unprotected), "UnprotectedHeader")
    general = jws(es256, header("ES256", es256), payload)
    case("general_serialization", {"payload": general["payload"], "signatures": [
        {"protected": general["protected"], "signature": general["signature"]}]}, "GeneralSerialization")
    case("compact_serialization", f'{general["protected"]}.{general["payload"]}.{general["signature"]}',
         "CompactSerialization")
    no_nonce = header("ES256", es256)
    del no_nonce["nonce"]
    case("missing_nonce", jws(es256, no_nonce, payload), "MissingNonce")
    case("critical_header", jws(es256, header("ES256", es256, crit=["b64"], b64=False), payload), "CriticalHeader")

    def der_signature(body):
        protected, payload_b64 = body["protected"], body["payload"]
        body["signature"] = b64(es256.sign(f"{protected}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256())))

    case("es256_der_signature", jws(es256, header("ES256", es256), payload, mangle=der_signature), "SignatureLength")

    eab_cases = []
    hmac_key = os.urandom(32)
    account = keys["es256"]

    def new_account(eab_alg="HS256", eab_key=hmac_key, eab_url=URL, bound_key=account, eab_header_extra=None):
        eab_header = {"alg": eab_alg, "kid": "eab-key-1", "url": eab_url, **(eab_header_extra or {})}
        eab = jws(eab_key, eab_header, json.dumps(jwk_of(bound_key)))
        body = {"termsOfServiceAgreed": True, "externalAccountBinding": eab}
        return jws(account, header("ES256", account), json.dumps(body))

    def eab_case(name, body, expect="ok"):
        eab_cases.append({"name": name, "body": json.dumps(body), "hmac_key": b64(hmac_key), "expect": expect})

    for alg in ("HS256", "HS384", "HS512"):
        eab_case(f"ok_{alg.lower()}", new_account(eab_alg=alg))
    eab_case("wrong_url", new_account(eab_url=URL.replace("new-account", "new-order")), "EabUrlMismatch")
    eab_case("wrong_payload", new_account(bound_key=keys["es384"]), "EabKeyMismatch")
    eab_case("wrong_mac", new_account(eab_key=os.urandom(32)), "EabBadMac")
    eab_case("nonce_in_eab", new_account(eab_header_extra={"nonce": NONCE}), "EabForbiddenMember")
    es_eab = jws(account, {"alg": "ES256", "kid": "eab-key-1", "url": URL}, json.dumps(jwk_of(account)))
    eab_case("asymmetric_eab", jws(account, header("ES256", account),
                                   json.dumps({"externalAccountBinding": es_eab})), "UnsupportedMacAlgorithm")

    spki_refused = {
        "p521": spki_of(ec.generate_private_key(ec.SECP521R1())),
        "rsa_1024": spki_of(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
    }

    out = {"spki_refused": spki_refused, "note": "generated by make.py with throwaway keys; regenerate rather than edit",
           "cases": cases, "kid_keys": {name: jwk_of(key) for name, key in keys.items()}, "eab": eab_cases}
    with open(os.path.join(HERE, "vectors.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
