"""A small strict DER reader, rule for rule the TypeScript one (src/pki/der.ts):
definite minimal lengths of at most 4 bytes, single-byte tags, nothing after
the root element."""
from __future__ import annotations

import datetime as _dt
import re
from typing import NamedTuple

from .errors import DerError

INTEGER, BIT_STRING, OCTET_STRING, NULL, OID = 0x02, 0x03, 0x04, 0x05, 0x06
BOOLEAN, UTF8_STRING, SEQUENCE, SET = 0x01, 0x0C, 0x30, 0x31
UTC_TIME, GENERALIZED_TIME = 0x17, 0x18


class Tlv(NamedTuple):
    tag: int
    start: int
    content: int
    end: int

    def value(self, buf: bytes) -> bytes:
        return buf[self.content:self.end]

    def raw(self, buf: bytes) -> bytes:
        return buf[self.start:self.end]


def read_tlv(buf: bytes, offset: int, limit: int | None = None) -> Tlv:
    if limit is None:
        limit = len(buf)
    if offset + 2 > limit:
        raise DerError(f"truncated element at offset {offset}")
    tag = buf[offset]
    if tag & 0x1F == 0x1F:
        raise DerError(f"multi-byte tag at offset {offset} is not supported")
    n = buf[offset + 1]
    p = offset + 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0:
            raise DerError(f"indefinite length at offset {offset} is not DER")
        if k > 4:
            raise DerError(f"length of {k} bytes at offset {offset} is too large")
        if p + k > limit:
            raise DerError(f"truncated length at offset {offset}")
        n = int.from_bytes(buf[p:p + k], "big")
        if buf[p] == 0 or n < 0x80:
            raise DerError(f"non-minimal length at offset {offset}")
        p += k
    if p + n > limit:
        raise DerError(f"element at offset {offset} runs past its container")
    return Tlv(tag, offset, p, p + n)


def children(buf: bytes, parent: Tlv) -> list[Tlv]:
    out, p = [], parent.content
    while p < parent.end:
        t = read_tlv(buf, p, parent.end)
        out.append(t)
        p = t.end
    return out


def root(buf: bytes, tag: int | None = None) -> Tlv:
    t = read_tlv(buf, 0)
    if t.end != len(buf):
        raise DerError(f"{len(buf) - t.end} trailing bytes after the DER element")
    if tag is not None and t.tag != tag:
        raise DerError(f"expected tag 0x{tag:x}, found 0x{t.tag:x}")
    return t


def expect(t: Tlv, tag: int, what: str) -> Tlv:
    if t.tag != tag:
        raise DerError(f"{what}: expected tag 0x{tag:x}, found 0x{t.tag:x}")
    return t


def decode_oid(body: bytes) -> str:
    if not body:
        raise DerError("empty OID")
    arcs, v = [], 0
    for i, c in enumerate(body):
        if v == 0 and c == 0x80:
            raise DerError("non-minimal OID arc")
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            arcs.append(v)
            v = 0
        elif i == len(body) - 1:
            raise DerError("truncated OID")
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def encode_oid(dotted: str) -> bytes:
    parts = [int(x) for x in dotted.split(".")]
    out = bytearray()
    for v in [parts[0] * 40 + parts[1], *parts[2:]]:
        chunk = [v & 0x7F]
        v >>= 7
        while v:
            chunk.insert(0, (v & 0x7F) | 0x80)
            v >>= 7
        out += bytes(chunk)
    return bytes(out)


_GEN = re.compile(rb"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$")
_UTC = re.compile(rb"^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$")


def decode_time(tag: int, body: bytes) -> _dt.datetime:
    if tag == GENERALIZED_TIME:
        m = _GEN.match(body)
    elif tag == UTC_TIME:
        m = _UTC.match(body)
    else:
        raise DerError(f"expected a time, found tag 0x{tag:x}")
    if not m:
        raise DerError(f"malformed time {body!r}")
    n = [int(x) for x in m.groups()]
    if tag == UTC_TIME:
        n[0] += 2000 if n[0] < 50 else 1900
    try:
        return _dt.datetime(*n, tzinfo=_dt.timezone.utc)
    except ValueError as e:  # month 13, hour 24, February 30
        raise DerError(f"invalid time {body!r}") from e


def serial_hex(b: bytes) -> str:
    """INTEGER content bytes as OpenSSL prints a serial: uppercase hex, no leading zero bytes, '-' when negative."""
    if not b:
        return "00"
    if b[0] & 0x80:
        v = (1 << (8 * len(b))) - int.from_bytes(b, "big")
        h = f"{v:X}"
        return "-" + ("0" + h if len(h) % 2 else h)
    i = 0
    while i < len(b) - 1 and b[i] == 0:
        i += 1
    return b[i:].hex().upper()
