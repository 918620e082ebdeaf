"""RFC 4514-style text of a DER Name ("CN=alice, O=Example"), in encoding order,
exactly as the TypeScript library writes it (src/pki/name-format.ts)."""
from __future__ import annotations

import re

from . import der

_SHORT = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "STREET", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "2.5.4.12": "title", "2.5.4.42": "GN", "2.5.4.4": "SN",
    "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID", "1.2.840.113549.1.9.1": "E",
}
_STRING_TAGS = {0x0C, 0x13, 0x16, 0x14, 0x1A, 0x1E}


def _text(tag: int, body: bytes) -> str:
    if tag == 0x1E:
        return body.decode("utf-16-be", errors="replace")
    if tag == 0x0C:
        return body.decode("utf-8", errors="replace")
    if tag in _STRING_TAGS:
        return body.decode("latin-1")
    return "#" + body.hex()


def _escape(s: str) -> str:
    s = re.sub(r'([,+"\\<>;])', r"\\\1", s)
    s = re.sub(r"^([ #])", r"\\\1", s)
    return s[:-1] + "\\ " if s.endswith(" ") else s


def format_name(name_der: bytes) -> str:
    """Raises DerError when the Name is not well-formed DER."""
    r = der.root(name_der, der.SEQUENCE)
    rdns = []
    for rdn in der.children(name_der, r):
        parts = []
        for atv in der.children(name_der, der.expect(rdn, der.SET, "RDN")):
            tv = der.children(name_der, der.expect(atv, der.SEQUENCE, "AttributeTypeAndValue"))
            if len(tv) < 2:
                raise der.DerError("AttributeTypeAndValue without a value")
            oid = der.decode_oid(der.expect(tv[0], der.OID, "attribute type").value(name_der))
            text = _text(tv[1].tag, tv[1].value(name_der))
            parts.append(f"{_SHORT.get(oid, oid)}={_escape(text) if tv[1].tag in _STRING_TAGS else text}")
        rdns.append("+".join(parts))
    return ", ".join(rdns)
