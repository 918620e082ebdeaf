"""Just enough of an X.509 certificate for the identifier: byte-exact slices of
the fields, and the signature to check against a pinned key."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from . import der
from .errors import DerError

BASIC_CONSTRAINTS = "2.5.29.19"


@dataclass(frozen=True)
class Extension:
    oid: str
    critical: bool
    value: bytes


@dataclass(frozen=True)
class Certificate:
    der: bytes
    tbs: bytes
    serial: bytes  # INTEGER content bytes
    issuer: bytes  # DER Name
    subject: bytes  # DER Name
    not_before: _dt.datetime
    not_after: _dt.datetime
    spki: bytes  # DER SubjectPublicKeyInfo
    signature_algorithm: bytes  # DER AlgorithmIdentifier (outer; equal to the TBS one)
    signature: bytes  # BIT STRING payload
    extensions: tuple[Extension, ...]

    def extension(self, oid: str) -> Extension | None:
        return next((e for e in self.extensions if e.oid == oid), None)

    @property
    def is_ca(self) -> bool:
        e = self.extension(BASIC_CONSTRAINTS)
        if e is None:
            return False
        try:
            seq = der.children(e.value, der.root(e.value, der.SEQUENCE))
        except DerError:
            return False  # a malformed basicConstraints is not CA:TRUE
        return bool(seq) and seq[0].tag == der.BOOLEAN and seq[0].value(e.value) == b"\xff"


def parse_certificate(buf: bytes) -> Certificate:
    """Raises DerError when the bytes are not a well-formed certificate."""
    buf = bytes(buf)
    top = der.children(buf, der.root(buf, der.SEQUENCE))
    if len(top) != 3:
        raise DerError("a certificate has three parts")
    tbs_t, alg_t, sig_t = top
    der.expect(tbs_t, der.SEQUENCE, "tbsCertificate")
    der.expect(alg_t, der.SEQUENCE, "signatureAlgorithm")
    sig = der.expect(sig_t, der.BIT_STRING, "signature").value(buf)
    if not sig or sig[0] != 0:
        raise DerError("signature BIT STRING with unused bits")
    f = der.children(buf, tbs_t)
    i = 1 if f and f[0].tag == 0xA0 else 0
    try:
        serial_t, inner_alg_t, issuer_t, validity_t, subject_t, spki_t = f[i:i + 6]
    except ValueError as e:
        raise DerError("tbsCertificate is missing fields") from e
    der.expect(serial_t, der.INTEGER, "serialNumber")
    if inner_alg_t.raw(buf) != alg_t.raw(buf):
        raise DerError("the TBS signature algorithm differs from the certificate's (RFC 5280 4.1.1.2)")
    der.expect(issuer_t, der.SEQUENCE, "issuer")
    der.expect(subject_t, der.SEQUENCE, "subject")
    der.expect(spki_t, der.SEQUENCE, "subjectPublicKeyInfo")
    validity = der.children(buf, der.expect(validity_t, der.SEQUENCE, "validity"))
    if len(validity) != 2:
        raise DerError("validity has two times")
    nb, na = validity
    extensions = []
    for t in f[i + 6:]:
        if t.tag != 0xA3:
            continue
        (lst,) = der.children(buf, t)
        for e in der.children(buf, der.expect(lst, der.SEQUENCE, "extensions")):
            parts = der.children(buf, der.expect(e, der.SEQUENCE, "extension"))
            oid = der.decode_oid(der.expect(parts[0], der.OID, "extnID").value(buf))
            critical, v = False, parts[1]
            if v.tag == der.BOOLEAN:
                critical, v = v.value(buf) != b"\x00", parts[2]
            extensions.append(Extension(oid, critical, der.expect(v, der.OCTET_STRING, "extnValue").value(buf)))
    return Certificate(
        der=buf, tbs=tbs_t.raw(buf), serial=serial_t.value(buf), issuer=issuer_t.raw(buf), subject=subject_t.raw(buf),
        not_before=der.decode_time(nb.tag, nb.value(buf)), not_after=der.decode_time(na.tag, na.value(buf)),
        spki=spki_t.raw(buf), signature_algorithm=alg_t.raw(buf), signature=sig[1:], extensions=tuple(extensions),
    )


def pem_certificates(text: str | bytes) -> list[bytes]:
    """The DER of every CERTIFICATE block in PEM text (or the bytes themselves, when DER)."""
    import base64
    import re

    if isinstance(text, bytes):
        if not text.lstrip().startswith(b"-----BEGIN"):
            return [text]
        text = text.decode("ascii")
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----", text)
    return [base64.b64decode("".join(b.split()), validate=True) for b in blocks]
