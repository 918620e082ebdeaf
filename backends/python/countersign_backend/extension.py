"""The delegation extension's strict decoder (ASN.1 module in docs/delegation.md)."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from . import der
from .errors import ERR_DELEGATION_EXTENSION_MALFORMED, ERR_DELEGATION_EXTENSION_VERSION, CountersignError, DerError

DEFAULT_EXTENSION_OID = "1.2.840.113556.1.8000.2554.52765.56834.36689.18876.35599.6052605.1115151.1"
EXTENSION_VERSION = 2  # the newest version read; 1 is read too (names_vouched is then False)


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
    # a client CA the proxy trusts vouched for subject and the SANs (v2); False for v1, and for a client
    # in clientAuth mode any whose certificate no configured CA issued: never authorize by those names then
    names_vouched: bool = False
    certificate: bytes | None = None  # the original certificate, when the proxy embeds it


def _malformed(message: str) -> CountersignError:
    return CountersignError(ERR_DELEGATION_EXTENSION_MALFORMED, f"delegation extension: {message}")


def decode_extension(buf: bytes) -> Delegation:
    """Decodes the extnValue. Version first: a version other than 1 or 2 is
    ERR_DELEGATION_EXTENSION_VERSION whatever follows; v1 has 8 fields (9 with the
    certificate), v2 a DER BOOLEAN namesVouched after notAfter (9 or 10); anything
    else wrong is ERR_DELEGATION_EXTENSION_MALFORMED."""
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
        if v not in (b"\x01", b"\x02"):
            n = int.from_bytes(v, "big", signed=True)
            raise CountersignError(ERR_DELEGATION_EXTENSION_VERSION,
                                   f"delegation extension: version {n} is not supported (this library reads versions 1 and "
                                   f"{EXTENSION_VERSION}); upgrade the countersign backend library")
        version = v[0]
        fixed = 8 if version == 1 else 9
        if len(f) not in (fixed, fixed + 1):
            raise _malformed(f"version {version} has {fixed} or {fixed + 1} fields, found {len(f)}")

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
        names_vouched = False
        if version == 2:
            b = der.expect(f[8], der.BOOLEAN, "namesVouched").value(buf)
            if b not in (b"\x00", b"\xff"):
                raise _malformed("namesVouched is not a DER BOOLEAN (one byte, 00 or FF)")
            names_vouched = b == b"\xff"
        return Delegation(
            version=version,
            cert_sha256=digest(1, 32, "certSha256"),
            spki_sha256=digest(2, 32, "spkiSha256"),
            cert_sha1=digest(3, 20, "certSha1"),
            subject=name(4, "subject"),
            issuer=name(5, "issuer"),
            serial=serial,
            not_after=der.decode_time(nat.tag, nat.value(buf)),
            names_vouched=names_vouched,
            certificate=der.expect(f[fixed], 0x80, "certificate").value(buf) if len(f) == fixed + 1 else None,
        )
    except DerError as e:
        raise _malformed(str(e)) from e
