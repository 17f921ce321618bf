"""The certificate of `tingshuo serve --https`.

Browsers give the microphone only to secure pages, and a hall's phones reach the server by its
LAN address, which no public authority certifies. So the server keeps a small certificate
authority of its own in the data folder (`tls/ca.crt`, made once) and a certificate for this
machine's names and addresses that it signs (`tls/server.crt`). Phones trust the authority
once; the server certificate is made again under the same authority when the machine's names
or addresses are no longer all in it, or as it nears its end, and stays the same otherwise.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import TingshuoError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CA_DAYS = 3650
# Apple devices refuse server certificates valid for longer than 825 days, browsers' public
# rules 398: 397 suits both
SERVER_DAYS = 397
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class Certificate:
    """What the server serves, and what the console tells about it."""

    certfile: Path
    keyfile: Path
    fingerprint: str  # SHA-256 of the server certificate, as browsers show it (AA:BB:…)
    names: tuple[str, ...]  # the names and addresses it is valid for
    # what a phone installs to trust it: the local authority, or the top of the organizer's
    # chain (their own authority, or the certificate itself if self-signed)
    trust_pem: bytes
    trust_fingerprint: str
    own: bool  # the organizer's certificate (--certfile), not one made here


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def machine_names(bind: str, lan: str | None) -> tuple[list[str], list[IPAddress]]:
    """The names and addresses phones and browsers may reach this machine by: its hostname,
    FQDN, localhost, its LAN address (`lan`, found by the caller), the hostname's addresses,
    loopback, and the address the server is bound to if it is a specific one."""
    names = ["localhost"]
    hostname = socket.gethostname()
    for name in (hostname, socket.getfqdn(), bind):
        name = name.lower().strip("[]")
        if name and name.isascii() and name not in names and not _is_address(name):
            names.append(name)
    addresses: list[IPAddress] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    found = [lan, bind.strip("[]")]
    try:
        found += [info[4][0] for info in socket.getaddrinfo(hostname, None)]
    except OSError:
        pass  # a hostname the resolver does not know: the LAN address is enough
    for text in found:
        if not text or not _is_address(text):
            continue
        address = ipaddress.ip_address(text.split("%")[0])
        if not address.is_unspecified and address not in addresses:
            addresses.append(address)
    return names, addresses


def local_certificate(
    folder: Path, names: Iterable[str], addresses: Iterable[IPAddress]
) -> Certificate:
    """The certificate in `folder` (the data folder's `tls/`), made or made again as needed."""
    folder.mkdir(parents=True, exist_ok=True)
    names, addresses = sorted(set(names)), sorted(set(addresses), key=str)
    ca_key, ca_cert = _authority(folder)
    certfile, keyfile = folder / "server.crt", folder / "server.key"
    cert = _read_cert(certfile) if _key_matches(keyfile, certfile) else None
    why = _reissue_reason(cert, ca_cert, names, addresses)
    if why:
        log.info("TLS certificate for %s made under %s (%s)", ", ".join(names), folder, why)
        cert = _issue(ca_key, ca_cert, names, addresses, certfile, keyfile)
    assert cert is not None
    return Certificate(
        certfile=certfile,
        keyfile=keyfile,
        fingerprint=fingerprint(cert),
        names=tuple(_san(cert)),
        trust_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        trust_fingerprint=fingerprint(ca_cert),
        own=False,
    )


def own_certificate(certfile: Path, keyfile: Path) -> Certificate:
    """The organizer's certificate and key, checked now so that a wrong file is one line here
    rather than a traceback when the server binds."""
    for path in (certfile, keyfile):
        if not path.is_file():
            raise TingshuoError(f"{path}: no such file (--certfile/--keyfile)")
    try:
        # the server reads the key without a password: an encrypted one is refused here
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile, keyfile, password=lambda: b"")
        chain = x509.load_pem_x509_certificates(certfile.read_bytes())
    except (ssl.SSLError, ValueError) as e:
        raise TingshuoError(
            f"{certfile}, {keyfile}: not a PEM certificate and its unencrypted key ({e})"
        ) from None
    top = chain[-1]
    return Certificate(
        certfile=certfile,
        keyfile=keyfile,
        fingerprint=fingerprint(chain[0]),
        names=tuple(_san(chain[0])),
        trust_pem=top.public_bytes(serialization.Encoding.PEM),
        trust_fingerprint=fingerprint(top),
        own=True,
    )


def _authority(folder: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    keyfile, certfile = folder / "ca.key", folder / "ca.crt"
    if keyfile.is_file() and certfile.is_file():
        key = serialization.load_pem_private_key(keyfile.read_bytes(), password=None)
        cert = _read_cert(certfile)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or cert is None:
            raise TingshuoError(f"{folder}: not the authority tingshuo made; move it away")
        return key, cert
    key = ec.generate_private_key(ec.SECP256R1())
    host = _host()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tingshuo"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"tingshuo local CA ({host})"[:64]),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(keyfile, key)
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("local certificate authority made in %s", folder)
    return key, cert


def _reissue_reason(
    cert: x509.Certificate | None,
    ca: x509.Certificate,
    names: list[str],
    addresses: list[IPAddress],
) -> str | None:
    if cert is None:
        return "none yet"
    if cert.issuer != ca.subject:
        return "another authority's"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "another authority's"
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return "near its end"
    missing = set(names + [str(a) for a in addresses]) - set(_san(cert))
    if missing:
        return "new names or addresses: " + ", ".join(sorted(missing))
    return None


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    names: list[str],
    addresses: list[IPAddress],
    certfile: Path,
    keyfile: Path,
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _host()[:64])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names] + [x509.IPAddress(a) for a in addresses]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    # the key first: a certificate is never there without its key
    _write_key(keyfile, key)
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # readable by the server's user only, from the moment it exists
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _read_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _key_matches(keyfile: Path, certfile: Path) -> bool:
    cert = _read_cert(certfile)
    try:
        key = serialization.load_pem_private_key(keyfile.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    return cert is not None and key.public_key() == cert.public_key()


def _host() -> str:
    return socket.gethostname() or "localhost"


def _san(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName)] + [
        str(a) for a in san.get_values_for_type(x509.IPAddress)
    ]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False
    return True


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
