"""Who is really on the other end of a backend's TLS connection.

``delegated``: the peer presents a certificate minted by a configured delegation
CA; the extension names the original client. It is believed only after the
certificate's signature has been verified here with the pinned delegation CA
public key (signature.py) — never because of the issuer name, and never
merely because the TLS layer accepted the chain. ``direct``: the client
connected itself, when ``allow_direct`` permits it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
import ssl
from dataclasses import dataclass, field
from typing import Callable, Iterable, Union

from . import der
from .errors import (
    ERR_CA_NOT_CA, ERR_CERT_EXPIRED, ERR_CERT_INVALID, ERR_CERT_NOT_YET_VALID, ERR_CONFIG_INVALID,
    ERR_DELEGATION_EXTENSION_MALFORMED, ERR_DELEGATION_MISSING, ERR_DELEGATION_UNTRUSTED_ISSUER,
    ERR_DIRECT_NOT_ALLOWED, ERR_NO_PEER_CERTIFICATE, ERR_PEER_UNAUTHORIZED, CountersignError, DerError,
)
from .extension import DEFAULT_EXTENSION_OID, decode_extension
from .names import format_name
from .signature import verify_signature
from .x509 import Certificate, parse_certificate, pem_certificates

CertificateInput = Union[str, bytes]
_DOTTED = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


@dataclass(frozen=True)
class Voucher:
    """The delegation CA that signed a delegated certificate."""
    identity: str
    subject: str
    cert_sha256: str


@dataclass(frozen=True)
class ResolvedIdentity:
    via: str  # "direct" | "delegated"
    identity: str  # lowercase hex SHA-256 of the original SPKI: what policies are keyed on
    cert_sha256: str  # lowercase hex
    cert_sha1: str  # uppercase hex
    subject: str
    issuer: str
    serial: str  # uppercase hex
    not_after: _dt.datetime
    # a CA vouched for subject (and the certificate's other names). direct: True (the TLS layer verified
    # the chain); delegated: what the proxy's extension says, False for a client that reached countersign
    # in clientAuth mode any with a certificate no configured CA issued, and for v1 extensions.
    # When False, never authorize by subject or any name: only by identity.
    names_vouched: bool = False
    proxy: Voucher | None = None  # the delegation CA, for delegated identities
    certificate: bytes | None = field(default=None, repr=False)  # the original DER, when known


@dataclass(frozen=True)
class _Anchor:
    cert: Certificate
    voucher: Voucher


def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _name(b: bytes, what: str, code: str) -> str:
    try:
        return format_name(b)
    except DerError as e:
        raise CountersignError(code, f"{what}: a Name cannot be decoded ({e})") from e


def _check_validity(what: str, subject: str, nb: _dt.datetime, na: _dt.datetime, now: _dt.datetime, fix: str) -> None:
    if now > na:
        raise CountersignError(ERR_CERT_EXPIRED, f'{what} "{subject}" expired at {na.isoformat()}; {fix}')
    if now < nb:
        raise CountersignError(ERR_CERT_NOT_YET_VALID, f'{what} "{subject}" is not valid before {nb.isoformat()}; check the clocks')


def _presented_chain(sock) -> list[bytes]:
    """What the peer sent after its certificate. Python 3.13 has SSLSocket.get_unverified_chain();
    3.11 and 3.12 give only the leaf, so a per-instance intermediate must be pinned itself there."""
    get = getattr(sock, "get_unverified_chain", None)
    if get is None:
        return []
    try:
        chain = get() or []
    except (ssl.SSLError, ValueError):
        return []
    out = []
    for c in chain[1:]:
        if isinstance(c, (bytes, bytearray)):
            out.append(bytes(c))
        elif hasattr(c, "public_bytes"):
            out.append(c.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
    return out


class Identifier:
    """Resolves TLS peers. Build one at start-up; ``identify`` is thread-safe.

    delegation_cas: the delegation CA certificate(s), PEM text or DER bytes (or a
        list). Pinned by public key. The server's SSLContext must trust them too
        (load_verify_locations) so the handshake accepts minted certificates.
    allow_direct: accept clients that connect directly (default False).
    extension_oid: must match the proxy's delegation.extensionOid.
    now: clock for validity checks, returning an aware datetime (default: UTC now).
    """

    def __init__(self, delegation_cas: CertificateInput | Iterable[CertificateInput] | None = None, *,
                 allow_direct: bool = False, extension_oid: str = DEFAULT_EXTENSION_OID,
                 now: Callable[[], _dt.datetime] = _utc_now):
        if delegation_cas is None:
            items: list[CertificateInput] = []
        elif isinstance(delegation_cas, (str, bytes, bytearray)):
            items = [bytes(delegation_cas) if isinstance(delegation_cas, bytearray) else delegation_cas]
        else:
            items = list(delegation_cas)
        self._anchors: list[_Anchor] = []
        for i, item in enumerate(items):
            what = f"delegation_cas[{i}]" if len(items) > 1 else "delegation_cas"
            try:
                ders = pem_certificates(item)
                certs = [parse_certificate(d) for d in ders]
            except (DerError, ValueError) as e:
                raise CountersignError(ERR_CERT_INVALID, f"{what}: not a certificate ({e})") from e
            if not certs:
                raise CountersignError(ERR_CERT_INVALID, f"{what}: no CERTIFICATE block found")
            for c in certs:
                subject = _name(c.subject, what, ERR_CERT_INVALID)
                if not c.is_ca:
                    raise CountersignError(ERR_CA_NOT_CA, f'{what}: "{subject}" is not a CA certificate (basicConstraints CA:TRUE is missing); give the delegation CA\'s certificate (delegation-ca.crt), not a leaf')
                self._anchors.append(_Anchor(c, Voucher(_sha256(c.spki), subject, _sha256(c.der))))
        if not _DOTTED.match(extension_oid):
            raise CountersignError(ERR_CONFIG_INVALID, f'extension_oid: "{extension_oid}" is not a dotted OID')
        self._oid = extension_oid
        self._allow_direct = allow_direct
        self._now = now
        if not self._anchors and not allow_direct:
            raise CountersignError(ERR_CONFIG_INVALID, "Identifier: no client could ever be identified; give delegation_cas, or allow_direct=True")

    def identify(self, sock: ssl.SSLSocket | ssl.SSLObject) -> ResolvedIdentity:
        """The identity of a server-side TLS connection whose handshake is complete.
        The SSLContext must verify client certificates (verify_mode CERT_REQUIRED, or
        CERT_OPTIONAL): a certificate the TLS layer did not verify is refused."""
        getpeercert = getattr(sock, "getpeercert", None)
        if getpeercert is None:
            raise CountersignError(ERR_NO_PEER_CERTIFICATE, "the connection is not TLS; wrap the socket with an SSLContext")
        der_bytes = getpeercert(binary_form=True)
        if not der_bytes:
            raise CountersignError(ERR_NO_PEER_CERTIFICATE, "the client presented no certificate; set context.verify_mode = ssl.CERT_REQUIRED and have the client send one")
        context = getattr(sock, "context", None)
        if context is None or context.verify_mode == ssl.CERT_NONE:
            raise CountersignError(ERR_PEER_UNAUTHORIZED, "the client certificate was not verified by the TLS layer (verify_mode is CERT_NONE); use ssl.CERT_REQUIRED with the delegation CA in load_verify_locations")
        return self.identify_certificate(der_bytes, _presented_chain(sock))

    def identify_certificate(self, cert_der: bytes, presented: Iterable[bytes] = ()) -> ResolvedIdentity:
        """The identity behind a peer certificate (DER) that the TLS layer has verified.

        presented: DER certificates the peer sent after its own. A per-instance
        delegation intermediate counts only if it is a CA, signed the certificate,
        and is itself signed by a pinned delegation CA key."""
        try:
            cert = parse_certificate(cert_der)
        except DerError as e:
            raise CountersignError(ERR_CERT_INVALID, f"the client certificate cannot be parsed: {e}") from e
        subject = _name(cert.subject, "the client certificate's subject", ERR_CERT_INVALID)
        issuer = _name(cert.issuer, "the client certificate's issuer", ERR_CERT_INVALID)
        ext = cert.extension(self._oid)
        # the signature alone decides; names and key identifiers are free to copy
        anchor = next((a for a in self._anchors if verify_signature(a.cert.spki, cert.signature_algorithm, cert.tbs, cert.signature)), None)
        intermediate = None
        if ext is not None and anchor is None and self._anchors:
            for d in presented:
                try:
                    i = parse_certificate(d)
                except DerError:
                    continue
                if not i.is_ca or not verify_signature(i.spki, cert.signature_algorithm, cert.tbs, cert.signature):
                    continue
                anchor = next((a for a in self._anchors if verify_signature(a.cert.spki, i.signature_algorithm, i.tbs, i.signature)), None)
                if anchor is not None:
                    intermediate = i
                    break
        if ext is not None and anchor is None:
            raise CountersignError(ERR_DELEGATION_UNTRUSTED_ISSUER, f'certificate "{subject}" carries a delegation extension but was not signed by a trusted delegation CA (issuer "{issuer}"); refused — only certificates minted by a pinned delegation CA are believed')
        if anchor is not None and ext is None:
            raise CountersignError(ERR_DELEGATION_MISSING, f'certificate "{subject}" was issued by delegation CA "{anchor.voucher.subject}" but has no delegation extension {self._oid}; check that the proxy and backend use the same extension OID')
        if anchor is not None:
            now = self._now()
            _check_validity("delegation CA", anchor.voucher.subject, anchor.cert.not_before, anchor.cert.not_after, now, "replace the delegation CA")
            if intermediate is not None:
                _check_validity("delegation intermediate CA", _name(intermediate.subject, "intermediate", ERR_CERT_INVALID),
                                intermediate.not_before, intermediate.not_after, now, "replace the proxy instance's intermediate")
            _check_validity("delegated certificate", subject, cert.not_before, cert.not_after, now, "the proxy mints a fresh one on the next connection")
            d = decode_extension(ext.value)
            if d.certificate is not None and not hmac.compare_digest(hashlib.sha256(d.certificate).digest(), d.cert_sha256):
                raise CountersignError(ERR_DELEGATION_EXTENSION_MALFORMED, "delegation extension: the embedded certificate does not match certSha256")
            orig_subject = _name(d.subject, "delegation extension", ERR_DELEGATION_EXTENSION_MALFORMED)
            orig_issuer = _name(d.issuer, "delegation extension", ERR_DELEGATION_EXTENSION_MALFORMED)
            if now > d.not_after:
                raise CountersignError(ERR_CERT_EXPIRED, f'the original client certificate "{orig_subject}" expired at {d.not_after.isoformat()}; the client must renew it')
            return ResolvedIdentity(
                via="delegated", identity=d.spki_sha256.hex(), cert_sha256=d.cert_sha256.hex(), cert_sha1=d.cert_sha1.hex().upper(),
                subject=orig_subject, issuer=orig_issuer, serial=der.serial_hex(d.serial), not_after=d.not_after,
                names_vouched=d.names_vouched, proxy=anchor.voucher, certificate=d.certificate,
            )
        if not self._allow_direct:
            raise CountersignError(ERR_DIRECT_NOT_ALLOWED, f'client "{subject}" ({_sha256(cert.spki)}) connected directly, but this backend accepts only delegated identities; connect through countersign, or set allow_direct=True')
        return ResolvedIdentity(
            via="direct", identity=_sha256(cert.spki), cert_sha256=_sha256(cert.der), cert_sha1=hashlib.sha1(cert.der).hexdigest().upper(),
            subject=subject, issuer=issuer, serial=der.serial_hex(cert.serial), not_after=cert.not_after, names_vouched=True,
            certificate=cert.der,
        )
