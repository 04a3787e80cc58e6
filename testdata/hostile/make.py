#!/usr/bin/env python3
"""Re-creates the hostile-input corpus used by tests/hostile.rs.

Run from anywhere: python3 testdata/hostile/make.py
Needs Python 3.9+ and the `cryptography` package (for keys and signatures only; every
ASN.1 structure is encoded by hand below so that it can be broken on purpose).

Everything is deterministic (fixed keys, RFC 6979 ECDSA signatures, a seeded PRNG for
garbage), except key-encrypted.pem whose PBES2 salt is random: re-running this script
changes only that file.

Naming: csr-*  CSRs and CSR look-alikes (issue --csr / sign)
        asn1-* ASN.1 that is broken at the encoding level (issue --csr / sign)
        cert-* certificate look-alikes (verify)
        key-*  private-key look-alikes (export --format p12 --key / renew --key)
        batch-*  files for `issue client --batch`
        revoke-* files for `revoke --from-file`
        ledger-* files put in place of <home>/ledger.db
        pass-*   files for --passphrase-file
        args/*.arg  one raw command-line argument each (NAME, --validity, SERIAL …)
        args/*.args one argument per line (10,000 SANs on the command line)
"""
import base64
import os
import random
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20240611)


# --------------------------------------------------------------------------- DER primitives
def length(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag, content):
    return bytes([tag]) + length(len(content)) + content


def seq(*items):
    return tlv(0x30, b"".join(items))


def set_(*items):
    return tlv(0x31, b"".join(items))


def integer(n):
    if n == 0:
        return tlv(0x02, b"\x00")
    body = n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)
    return tlv(0x02, body)


def oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def utf8(raw):
    return tlv(0x0C, raw if isinstance(raw, bytes) else raw.encode())


def octets(raw):
    return tlv(0x04, raw)


def bits(raw):
    return tlv(0x03, b"\x00" + raw)


def ctx(n, content, constructed=True):
    return tlv((0xA0 if constructed else 0x80) | n, content)


def pem(label, der):
    body = base64.b64encode(der).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)).encode()


# --------------------------------------------------------------------------- X.509 pieces
CN = "2.5.4.3"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
ECDSA_SHA384 = "1.2.840.10045.4.3.3"
RSA_SHA256 = "1.2.840.113549.1.1.11"
EXT_REQ = "1.2.840.113549.1.9.14"
SAN = "2.5.29.17"

KEY = ec.derive_private_key(0x5EED_0001_C0FFEE_BADC0DE, ec.SECP256R1())
KEY384 = ec.derive_private_key(0x5EED_0002_C0FFEE_BADC0DE, ec.SECP384R1())
OTHER_KEY = ec.derive_private_key(0x5EED_0003_C0FFEE_BADC0DE, ec.SECP256R1())


def spki(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def name(cn_value):
    """A Name with one CN; cn_value is the whole encoded AttributeValue (any string type)."""
    return seq(set_(seq(oid(CN), cn_value)))


def dns(s):
    return tlv(0x82, s if isinstance(s, bytes) else s.encode())


def san_ext(general_names):
    return seq(oid(SAN), octets(seq(*general_names)))


def ext_request(*extensions):
    return seq(oid(EXT_REQ), set_(seq(*extensions)))


def cri(cn_value, extensions=(), version=0, key=KEY, raw_attributes=None):
    attrs = raw_attributes if raw_attributes is not None else (ext_request(*extensions) if extensions else b"")
    return seq(integer(version), name(cn_value), spki(key), ctx(0, attrs))


def sign(tbs, key=KEY, alg=ECDSA_SHA256):
    h = hashes.SHA384() if alg == ECDSA_SHA384 else hashes.SHA256()
    return key.sign(tbs, ec.ECDSA(h, deterministic_signing=True))


def csr(tbs, key=KEY, alg=ECDSA_SHA256, signature=None):
    sig = signature if signature is not None else sign(tbs, key, alg)
    return seq(tbs, seq(oid(alg)), bits(sig))


def valid_csr(cn="hostile.example.com", sans=("hostile.example.com",)):
    return csr(cri(utf8(cn), [san_ext([dns(s) for s in sans])]))


def self_signed_cert(cn="hostile-cert.example.com"):
    validity = seq(tlv(0x17, b"250101000000Z"), tlv(0x17, b"350101000000Z"))
    tbs = seq(ctx(0, integer(2)), integer(0x1234_5678_9ABC), seq(oid(ECDSA_SHA256)), name(utf8(cn)),
              validity, name(utf8(cn)), spki(KEY))
    return seq(tbs, seq(oid(ECDSA_SHA256)), bits(sign(tbs)))


def nested(depth, leaf=b"\x05\x00"):
    """depth SEQUENCEs, each holding the next; built inside out."""
    out = leaf
    for _ in range(depth):
        out = seq(out)
    return out


# --------------------------------------------------------------------------- the corpus
files = {}


def put(path, data):
    files[path] = data if isinstance(data, bytes) else data.encode()


VALID = valid_csr()
VALID_PEM = pem("CERTIFICATE REQUEST", VALID)
# A positive control: the same construction, unbroken, is accepted (tests/hostile.rs checks it).
put("control-valid.csr", VALID_PEM)
put("control-valid.der", VALID)

# Truncated and oversized PEM/DER.
put("csr-truncated-pem-body.csr", VALID_PEM[: len(VALID_PEM) // 2])
put("csr-truncated-pem-no-end.csr", VALID_PEM.split(b"-----END")[0])
put("csr-truncated-der-half.der", VALID[: len(VALID) // 2])
put("csr-truncated-der-one-byte.der", VALID[:1])
put("csr-truncated-der-last-byte.der", VALID[:-1])
put("csr-oversized-pem.csr", pem("CERTIFICATE REQUEST", seq(octets(b"\xa5" * 300_000))))
put("csr-oversized-der.der", seq(octets(bytes(300 * 1024))))
put("csr-oversized-whitespace.csr", b" " * (300 * 1024) + VALID_PEM)
# Wrong PEM labels.
put("csr-label-private-key.csr", pem("PRIVATE KEY", VALID))
put("csr-label-certificate.csr", pem("CERTIFICATE", VALID))
put("csr-label-x509-crl.csr", pem("X509 CRL", VALID))
put("csr-label-mismatch.csr", VALID_PEM.replace(b"-----END CERTIFICATE REQUEST", b"-----END CERTIFICATE"))
put("csr-label-empty.csr", pem("", VALID))
put("csr-pem-bad-base64.csr", VALID_PEM.replace(VALID_PEM[40:48], b"!!!!****"))
put("csr-pem-utf16.csr", b"\xff\xfe" + VALID_PEM.decode().encode("utf-16-le"))
# Bad signatures.
flipped = bytearray(VALID)
flipped[-1] ^= 1
put("csr-bad-signature-flipped.der", bytes(flipped))
tbs_ok = cri(utf8("hostile.example.com"), [san_ext([dns("hostile.example.com")])])
put("csr-bad-signature-other-key.der", csr(tbs_ok, signature=sign(tbs_ok, OTHER_KEY)))
put("csr-bad-signature-empty.der", csr(tbs_ok, signature=b""))
put("csr-bad-signature-zeros.der", csr(tbs_ok, signature=seq(integer(0), integer(0))))
put("csr-bad-signature-rsa-oid.der", csr(tbs_ok, alg=RSA_SHA256))
# Signed with SHA-256 but labelled ecdsa-with-SHA384.
put("csr-bad-signature-hash-mismatch.der", csr(tbs_ok, alg=ECDSA_SHA384, signature=sign(tbs_ok)))
put("csr-bad-signature-bitstring-unused-bits.der",
    seq(tbs_ok, seq(oid(ECDSA_SHA256)), tlv(0x03, b"\x07" + sign(tbs_ok))))
# Trailing garbage after a valid CSR.
put("csr-trailing-garbage.der", VALID + b"GARBAGE")
put("csr-trailing-zero.der", VALID + b"\x00")
put("csr-trailing-second-csr.der", VALID + VALID)
put("csr-trailing-garbage-pem.csr", VALID_PEM + b"this line is not PEM\n\x00\xff")
put("csr-trailing-second-block.csr", VALID_PEM + pem("PRIVATE KEY", b"\x30\x00"))
# Absurd ASN.1 lengths and encodings.
put("asn1-length-4gib.der", b"\x30\x84\xff\xff\xff\xff" + VALID[2:])
put("asn1-length-8-octets.der", b"\x30\x88\xff\xff\xff\xff\xff\xff\xff\xff" + VALID[2:])
put("asn1-length-127-octets.der", b"\x30\xfe" + b"\xff" * 126 + VALID[2:])
put("asn1-length-indefinite.der", b"\x30\x80" + VALID[2 + (2 if VALID[1] & 0x80 else 0):] + b"\x00\x00")
put("asn1-length-non-minimal.der", b"\x30\x84" + (len(VALID) - 4).to_bytes(4, "big") + VALID[4:])
put("asn1-inner-length-too-long.der",
    VALID[:4] + b"\x30\x84\x7f\xff\xff\xff" + VALID[4 + 4:] if VALID[1] == 0x82 else VALID)
put("asn1-zero-length.der", b"\x30\x00")
put("asn1-wrong-outer-tag.der", b"\x31" + VALID[1:])
put("asn1-high-tag-number.der", b"\x3f\xff\xff\xff\xff\x7f\x00")
put("asn1-nested-10000.der", nested(10_000))
put("asn1-nested-10000.csr", pem("CERTIFICATE REQUEST", nested(10_000)))
put("asn1-nested-10000-in-tbs.der", seq(nested(10_000), seq(oid(ECDSA_SHA256)), bits(b"\x00")))
# Deep nesting inside a correctly signed CSR: in the SAN extension and in an attribute.
tbs_deep_san = cri(utf8("deep.example.com"), [seq(oid(SAN), octets(nested(5_000)))])
put("asn1-nested-in-signed-san.der", csr(tbs_deep_san))
tbs_bad_ver = cri(utf8("version.example.com"), [san_ext([dns("version.example.com")])], version=99)
put("asn1-signed-version-99.der", csr(tbs_bad_ver))
put("asn1-random-4k.der", bytes(rng.getrandbits(8) for _ in range(4096)))
put("csr-empty.csr", b"")
put("csr-whitespace.csr", b" \n\t\r\n ")
put("csr-nul-bytes.der", bytes(1024))
# Names: non-UTF-8 and control characters in the CSR's CN (all correctly signed).
for label, cn in [
    ("non-utf8", utf8(b"bad\xff\xfe.example.com")),
    ("overlong-utf8", utf8(b"\xc0\xaeexample.com")),
    ("escape", utf8("evil\x1b[31m.example.com")),
    ("newline", utf8("ok.example.com\npkictl: injected")),
    ("nul", utf8("nul\x00.example.com")),
    ("bell", utf8("bell\x07.example.com")),
    ("del", utf8("del\x7f.example.com")),
    ("c1", utf8("c1\u0085.example.com")),
    ("printable-bad", tlv(0x13, b"print*able.example.com")),
    ("bmp-odd", tlv(0x1E, b"\x00a\x00")),
    ("too-long", utf8("x" * 65)),
]:
    tbs = cri(cn, [san_ext([dns("cn-%s.example.com" % label)])])
    put("csr-cn-%s.der" % label, csr(tbs))
# SANs in the CSR: 10,000 entries, non-ASCII, control characters.
many = [dns("h%05d.example.com" % i) for i in range(10_000)]
tbs_many = cri(utf8("many.example.com"), [san_ext(many)])
put("csr-san-10000.der", csr(tbs_many))
put("csr-san-10000.csr", pem("CERTIFICATE REQUEST", csr(tbs_many)))
for label, gn in [
    ("dns-non-ascii", dns(b"b\xfccher.example.com")),
    ("dns-control", dns(b"ctl\x01.example.com")),
    ("dns-newline", dns(b"nl.example.com\nx")),
    ("dns-empty", dns(b"")),
    ("dns-huge", dns(b"a" * 70_000)),
    ("uri-space", tlv(0x86, b"spiffe://example.org/a b")),
    ("email-no-at", tlv(0x81, b"nobody.example.com")),
]:
    tbs = cri(utf8("san-%s.example.com" % label), [san_ext([gn])])
    put("csr-san-%s.der" % label, csr(tbs))

# Certificates (for `verify`): a "no" verdict, exit 1, stdout says why.
CERT = self_signed_cert()
CERT_PEM = pem("CERTIFICATE", CERT)
put("cert-truncated.pem", CERT_PEM[: len(CERT_PEM) // 2])
put("cert-truncated.der", CERT[:-10])
put("cert-nested-10000.der", nested(10_000))
put("cert-random.der", bytes(rng.getrandbits(8) for _ in range(2048)))
put("cert-length-4gib.der", b"\x30\x84\xff\xff\xff\xff" + CERT[2:])
put("cert-trailing-garbage.pem", CERT_PEM.replace(b"-----END CERTIFICATE-----", b"-----END CERTIFICATE-----\x00\xff garbage"))

# Private-key look-alikes (export --format p12 --key, renew --key). Tests copy them 0600.
pk8 = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
put("key-truncated.pem", pk8[: len(pk8) // 2])
put("key-random.pem", bytes(rng.getrandbits(8) for _ in range(512)))
put("key-wrong-label.pem", pk8.replace(b"PRIVATE KEY", b"CERTIFICATE"))
put("key-sec1.pem", KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))
put("key-nested-10000.pem", pem("PRIVATE KEY", nested(10_000)))
put("key-not-the-certificates.pem", OTHER_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
put("key-p384-not-the-certificates.pem", KEY384.private_bytes(serialization.Encoding.PEM,
                                                               serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption()))
put("key-encrypted.pem", KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(b"correct horse battery staple")))
put("key-non-utf8.pem", b"\xff\xfe\xfd" + pk8)

# Batch files for `issue client --batch`.
good = ["batch-%02d.example.com" % i for i in range(40)]
put("batch-bad-line-middle.txt", "\n".join(good[:20] + ["bad_name!.example.com,foo_bar.example.com"] + good[20:]) + "\n")
put("batch-bad-san-middle.txt", "\n".join(good[:20] + ["ok.example.com,spiffe://Bad.Example/x"] + good[20:]) + "\n")
put("batch-duplicate.txt", "\n".join(good[:10] + [good[3].upper()] + good[10:]) + "\n")
put("batch-non-utf8.txt", ("\n".join(good[:5]) + "\n").encode() + b"caf\xe9.example.com\n" + ("\n".join(good[5:10]) + "\n").encode())
put("batch-control-char.txt", "\n".join(good[:5] + ["esc\x1b[2J.example.com"] + good[5:10]) + "\n")
put("batch-nul.txt", "\n".join(good[:5] + ["nul\x00.example.com"] + good[5:10]) + "\n")
put("batch-10000-sans.txt", "many.example.com," + ",".join("h%05d.example.com" % i for i in range(10_000)) + "\n")
put("batch-comments-only.txt", "# nothing here\n\n   \n# still nothing\n")
put("batch-long-name.txt", "\n".join(good[:5] + ["x" * 65 + ".example.com"]) + "\n")
put("batch-bad-last-line.txt", "\n".join(good + ["10.0.0.256"]) + "\n")

# Lists for `revoke --from-file` (serials that no home holds, and malformed ones).
unknown = ["%040x" % (0x4000_0000_0000_0000_0000_0000_0000_0000 + i * 7919) for i in range(1, 6)]
put("revoke-unknown.txt", "\n".join(unknown) + "\n")
put("revoke-malformed.txt", "-1\n0\n" + "1" * 41 + "\n0x\nnot-hex\n")
put("revoke-unknown-fingerprint.txt", "ab" * 32 + "\n")
put("revoke-non-utf8.txt", b"\xff\xfe\x00\x01\n" + unknown[0].encode() + b"\n")
put("revoke-comments-only.txt", "# no serials\n\n")

# Ledger impostors (copied over <home>/ledger.db).
put("ledger-random.db", bytes(rng.getrandbits(8) for _ in range(8192)))
put("ledger-zeros.db", bytes(8192))
put("ledger-text.db", b"this is not a database\n" * 100)
put("ledger-sqlite-header-garbage.db", b"SQLite format 3\x00" + bytes(rng.getrandbits(8) for _ in range(8176)))
put("ledger-empty.db", b"")

# Passphrase files (encrypted home).
put("pass-empty.txt", b"")
put("pass-newline-only.txt", b"\n")
put("pass-non-utf8.txt", b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\n")
put("pass-wrong.txt", b"this is not the passphrase\n")

# Raw command-line arguments, one per file (no trailing newline).
args = {
    # NAME
    "name-non-utf8": b"bad\xff\xfe.example.com",
    "name-escape": b"evil\x1b[31m.example.com",
    "name-newline": b"ok.example.com\npkictl: injected",
    "name-tab": b"tab\t.example.com",
    "name-bell": b"bell\x07.example.com",
    "name-del": b"del\x7f.example.com",
    "name-c1": "c1\u0085.example.com".encode(),
    "name-empty": b"",
    "name-spaces": b"   ",
    "name-65-chars": b"x" * 65,
    "name-10k-chars": b"y" * 10_000,
    # --validity / --next-update / --expiring-within
    "validity-negative": b"-1d",
    "validity-99999y": b"99999y",
    "validity-exponent": b"1e9d",
    "validity-fraction": b"1.5d",
    "validity-zero": b"0d",
    "validity-empty": b"",
    "validity-no-number": b"d",
    "validity-no-unit": b"90",
    "validity-i64-max": b"9223372036854775807d",
    "validity-overflow": b"99999999999999999999d",
    "validity-arabic-digits": "\u0661\u0662d".encode(),
    "validity-upper-unit": b"1D",
    "validity-100y-and-a-day": b"36501d",
    "validity-space": b"90 d",
    "validity-non-utf8": b"9\xff0d",
    # SERIAL for revoke
    "serial-negative": b"-1",
    "serial-zero": b"0",
    "serial-zeros": b"00:00:00",
    "serial-41-digits": b"1" * 41,
    "serial-0x": b"0x",
    "serial-non-hex": b"not-a-serial",
    "serial-unknown-40-digits": b"7f" * 20,
    "serial-unknown-fingerprint": b"cd" * 32,
    "serial-newline": b"ab\ncd",
    "serial-non-utf8": b"ab\xffcd",
    "serial-colons-only": b":::",
}
for key, value in args.items():
    put("args/%s.arg" % key, value)
put("args/dns-10000.args", "".join("--dns\nh%05d.example.com\n" % i for i in range(10_000)))
put("args/uri-10000.args", "".join("--uri\nspiffe://example.org/ns/n%05d\n" % i for i in range(10_000)))


# --------------------------------------------------------------------------- issue 12 additions
# Well-formed, correctly signed CSRs that ask for what no certificate may carry, and files
# given to `verify` that are not certificates.
def rsa_key(bits, seed):
    """A deterministic RSA key whose modulus has exactly `bits` bits (Miller-Rabin on a seeded PRNG)."""
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_mod
    prng = random.Random(seed)

    def probable_prime(size):
        while True:
            n = prng.getrandbits(size) | (1 << (size - 1)) | 1
            if all(pow(prng.randrange(2, n - 1), n - 1, n) == 1 for _ in range(40)) and all(
                n % p for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31)
            ):
                return n

    e = 65537
    while True:
        p_, q_ = probable_prime((bits + 1) // 2), probable_prime(bits // 2)
        n = p_ * q_
        phi = (p_ - 1) * (q_ - 1)
        if n.bit_length() == bits and p_ != q_ and phi % e:
            break
    d = pow(e, -1, phi)
    numbers = rsa_mod.RSAPrivateNumbers(
        p_, q_, d, d % (p_ - 1), d % (q_ - 1), pow(q_, -1, p_), rsa_mod.RSAPublicNumbers(e, n)
    )
    return numbers.private_key()


def rsa_csr(key, cn="rsa.example.com"):
    from cryptography.hazmat.primitives.asymmetric import padding
    tbs = cri(utf8(cn), [san_ext([dns(cn)])], key=key)
    sig = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return seq(tbs, seq(oid(RSA_SHA256), b"\x05\x00"), bits(sig))


def ip(raw):
    return tlv(0x87, raw)


KEY_USAGE_DIGITAL_SIGNATURE = seq(oid("2.5.29.15"), tlv(0x01, b"\xff"), octets(tlv(0x03, b"\x07\x80")))
put("csr-rsa-2047.der", rsa_csr(rsa_key(2047, 2047)))
put("csr-rsa-2049.der", rsa_csr(rsa_key(2049, 2049)))
put("csr-san-ip-5-bytes.der", csr(cri(utf8("ip5.example.com"), [san_ext([dns("ip5.example.com"), ip(b"\x0a\x00\x00\x01\x05")])])))
put("csr-san-ip-8-bytes.der", csr(cri(utf8("ip8.example.com"), [san_ext([dns("ip8.example.com"), ip(b"\x0a\x00\x00\x00\xff\x00\x00\x00")])])))
put("csr-san-ip-empty.der", csr(cri(utf8("ip0.example.com"), [san_ext([dns("ip0.example.com"), ip(b"")])])))
put("csr-san-twice.der", csr(cri(utf8("twice.example.com"), [san_ext([dns("twice.example.com")]), san_ext([dns("other.example.com")])])))
put("csr-key-usage-twice.der", csr(cri(utf8("ku.example.com"), [san_ext([dns("ku.example.com")]), KEY_USAGE_DIGITAL_SIGNATURE, KEY_USAGE_DIGITAL_SIGNATURE])))
put("csr-two-extension-requests.der", csr(cri(utf8("two.example.com"), raw_attributes=ext_request(san_ext([dns("two.example.com")])) + ext_request(san_ext([dns("evil.example.com")])))))
put("csr-san-punycode-invalid.der", csr(cri(utf8("idn.example.com"), [san_ext([dns("xn--a.example.com")])])))
put("csr-san-punycode-control.der", csr(cri(utf8("idn.example.com"), [san_ext([dns("xn--fa1v.example.com")])])))
put("csr-cn-punycode-invalid.der", csr(cri(utf8("xn--99999999.example.com"), [])))
put("csr-cn-10k.der", csr(cri(utf8("c" * 10_000), [san_ext([dns("long-cn.example.com")])])))

put("cert-empty.pem", b"")
put("cert-text.txt", b"This is a certificate, honestly.\nSubject: CN=nobody\n")
put("cert-trailing-garbage.der", CERT + b"\x00garbage")
put("cert-trailing-text.pem", CERT_PEM + b"and some trailing text\n")
put("cert-pem-bad-base64.pem", CERT_PEM.replace(CERT_PEM[40:48], b"!!!!****"))
put("cert-pem-no-end.pem", CERT_PEM.split(b"-----END")[0])
put("cert-length-2gib.der", b"\x30\x84\x80\x00\x00\x00" + CERT[2:])
put("cert-label-public-key.pem", pem("PUBLIC KEY", spki(KEY)))
put("cert-label-wraps-a-csr.pem", pem("CERTIFICATE", VALID))
put("cert-csr.pem", VALID_PEM)
put("cert-csr.der", VALID)
put("cert-private-key.pem", KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
put("cert-nested-10000-in-tbs.der", seq(nested(10_000), seq(oid(ECDSA_SHA256)), bits(b"\x00")))
# A control: well-formed, self-signed, trusted by nobody: a "no" verdict (exit 1), not bad input.
put("control-cert-untrusted.pem", CERT_PEM)


def main():
    for path, data in sorted(files.items()):
        full = os.path.join(HERE, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
    print("wrote %d files under %s" % (len(files), HERE), file=sys.stderr)


if __name__ == "__main__":
    main()
