#!/usr/bin/env python3
"""A one-connection tls-alpn-01 responder (RFC 8737) for tests/acme_challenges.rs, built on
Python `cryptography` (the certificate) and `ssl` (the handshake, ALPN acme-tls/1).

    tls_alpn01_responder.py MODE IDENTIFIER

Binds 127.0.0.1 on a free port and prints the port on stdout; then reads the key
authorization as one line on stdin, makes a self-signed P-256 certificate for IDENTIFIER (a DNS
name, or an IP address put in an iPAddress SAN), serves one handshake and prints what the
client sent: `sni=NAME alpn=PROTOCOL`. MODE says how the certificate is made:

    good          critical id-pe-acmeIdentifier holding SHA-256(key authorization)
    missing       no id-pe-acmeIdentifier
    noncritical   the right digest in a non-critical extension
    wrong-digest  critical, holding SHA-256 of something else
    no-alpn       a good certificate, but the server does not negotiate acme-tls/1
    good-tls12    as good, over TLS 1.2 at most
"""

import datetime
import hashlib
import ipaddress
import os
import socket
import ssl
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")


def certificate(mode: str, identifier: str, key_authorization: str):
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san = x509.IPAddress(ipaddress.ip_address(identifier))
    except ValueError:
        san = x509.DNSName(identifier)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme-tls-alpn-01")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme-tls-alpn-01")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
    )
    digest = hashlib.sha256(key_authorization.encode()).digest()
    if mode == "wrong-digest":
        digest = hashlib.sha256(b"not the key authorization").digest()
    if mode != "missing":
        value = bytes([0x04, len(digest)]) + digest  # DER OCTET STRING
        builder = builder.add_extension(
            x509.UnrecognizedExtension(ACME_IDENTIFIER, value), critical=(mode != "noncritical")
        )
    cert = builder.sign(key, hashes.SHA256())
    return cert, key


def main() -> None:
    mode, identifier = sys.argv[1], sys.argv[2]
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(120)
    print(listener.getsockname()[1], flush=True)
    key_authorization = sys.stdin.readline().strip()
    cert, key = certificate(mode, identifier, key_authorization)
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
    context.set_alpn_protocols(["http/1.1"] if mode == "no-alpn" else ["acme-tls/1"])
    if mode == "good-tls12":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    seen = {"sni": None}

    def remember(_sock, name, _context):
        seen["sni"] = name

    context.sni_callback = remember
    connection, _ = listener.accept()
    connection.settimeout(30)
    try:
        with context.wrap_socket(connection, server_side=True) as tls:
            print(f"sni={seen['sni']} alpn={tls.selected_alpn_protocol()}", flush=True)
            try:
                tls.recv(1)
            except (ssl.SSLError, OSError):
                pass
    except (ssl.SSLError, OSError) as e:
        print(f"sni={seen['sni']} error={e}", flush=True)


if __name__ == "__main__":
    main()
