"""The delegation extension's strict decoder (ASN.1 module in docs/delegation.md)."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from . import der
from .errors import ERR_DELEGATION_EXTENSION_MALFORMED, ERR_DELEGATION_EXTENSION_VERSION, CountersignError, DerError

DEFAULT_EXTENSION_OID = "1.2.840.113556.1.8000.2554.52765.56834.36689.18876.35599.6052605.1115151.1"
EXTENSION_VERSION = 1


@dataclass(frozen=True)
class Delegation:
    version: int
    cert_sha256: bytes  # SHA-256 of the original certificate's DER
    spki_sha256: bytes  # SHA-256 of its SubjectPublicKeyInfo: the identity
    cert_sha1: bytes
    subject: bytes  # DER Name, verbatim
    issuer: bytes  # DER Name, verbatim
    serial: bytes  # INTEGER content bytes, verbatim
    not_after: _dt.datetime
    certificate: bytes | None = None  # the original certificate, when the proxy embeds it


def _malformed(message: str) -> CountersignError:
    return CountersignError(ERR_DELEGATION_EXTENSION_MALFORMED, f"delegation extension: {message}")


def decode_extension(buf: bytes) -> Delegation:
    """Decodes the extnValue. Version first: another version is ERR_DELEGATION_EXTENSION_VERSION
    whatever follows; anything else wrong is ERR_DELEGATION_EXTENSION_MALFORMED."""
    buf = bytes(buf)
    try:
        f = der.children(buf, der.root(buf, der.SEQUENCE))
    except DerError as e:
        raise _malformed(str(e)) from e
    if not f:
        raise _malformed("empty SEQUENCE")
    try:
        v = der.expect(f[0], der.INTEGER, "version").value(buf)
        if not v:
            raise _malformed("empty version")
        if len(v) > 1 and ((v[0] == 0 and not v[1] & 0x80) or (v[0] == 0xFF and v[1] & 0x80)):
            raise _malformed("version is not a minimally encoded INTEGER")
        if v != bytes([EXTENSION_VERSION]):
            n = int.from_bytes(v, "big", signed=True)
            raise CountersignError(ERR_DELEGATION_EXTENSION_VERSION,
                                   f"delegation extension: version {n} is not supported (this library reads version "
                                   f"{EXTENSION_VERSION}); upgrade the countersign backend library")
        if len(f) not in (8, 9):
            raise _malformed(f"expected 8 or 9 fields, found {len(f)}")

        def digest(i: int, n: int, what: str) -> bytes:
            b = der.expect(f[i], der.OCTET_STRING, what).value(buf)
            if len(b) != n:
                raise _malformed(f"{what} must be {n} bytes, found {len(b)}")
            return b

        def name(i: int, what: str) -> bytes:
            der.children(buf, der.expect(f[i], der.SEQUENCE, what))  # must be well-formed
            return f[i].raw(buf)

        serial = der.expect(f[6], der.INTEGER, "serialNumber").value(buf)
        if not serial:
            raise _malformed("empty serialNumber")
        nat = der.expect(f[7], der.GENERALIZED_TIME, "notAfter")
        return Delegation(
            version=1,
            cert_sha256=digest(1, 32, "certSha256"),
            spki_sha256=digest(2, 32, "spkiSha256"),
            cert_sha1=digest(3, 20, "certSha1"),
            subject=name(4, "subject"),
            issuer=name(5, "issuer"),
            serial=serial,
            not_after=der.decode_time(nat.tag, nat.value(buf)),
            certificate=der.expect(f[8], 0x80, "certificate").value(buf) if len(f) == 9 else None,
        )
    except DerError as e:
        raise _malformed(str(e)) from e
