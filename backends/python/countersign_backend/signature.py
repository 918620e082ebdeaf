"""Signature verification with a pinned public key, in pure Python.

The standard library's ssl module verifies chains but cannot say *which* trust
anchor a chain ended at (Python 3.11 has no get_verified_chain), and it has no
public-key primitive. So the identifier checks "was this certificate signed by
the delegation CA's key?" itself, here: ECDSA (P-256, P-384, P-521 with
SHA-256/384/512), RSA PKCS#1 v1.5 (SHA-256/384/512) and Ed25519 — every
algorithm the countersign minter signs with.

Only public values are involved (the CA's public key, the certificate, its
signature), so the usual concern with hand-written crypto — leaking a secret
through timing — does not arise. Anything unexpected (another algorithm, a
malformed key or signature, a value out of range) means "not verified".
"""
from __future__ import annotations

import hashlib
import hmac

from . import der
from .errors import DerError

_HASHES = {
    "1.2.840.10045.4.3.2": ("ecdsa", "sha256"),
    "1.2.840.10045.4.3.3": ("ecdsa", "sha384"),
    "1.2.840.10045.4.3.4": ("ecdsa", "sha512"),
    "1.2.840.113549.1.1.11": ("rsa", "sha256"),
    "1.2.840.113549.1.1.12": ("rsa", "sha384"),
    "1.2.840.113549.1.1.13": ("rsa", "sha512"),
    "1.3.101.112": ("ed25519", None),
}
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


class Curve:
    def __init__(self, name: str, p: int, b: int, gx: int, gy: int, n: int):
        self.name, self.p, self.a, self.b, self.g, self.n = name, p, p - 3, b, (gx, gy), n
        self.size = (p.bit_length() + 7) // 8

    def on_curve(self, pt: tuple[int, int]) -> bool:
        x, y = pt
        return 0 <= x < self.p and 0 <= y < self.p and (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0

    # Jacobian coordinates; None is the point at infinity
    def double(self, P):
        if P is None:
            return None
        X, Y, Z = P
        p = self.p
        if Y == 0:
            return None
        delta, gamma = Z * Z % p, Y * Y % p
        beta = X * gamma % p
        alpha = 3 * (X - delta) * (X + delta) % p
        X3 = (alpha * alpha - 8 * beta) % p
        Z3 = ((Y + Z) * (Y + Z) - gamma - delta) % p
        Y3 = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
        return (X3, Y3, Z3)

    def add(self, P, Q):
        if P is None:
            return Q
        if Q is None:
            return P
        p = self.p
        X1, Y1, Z1 = P
        X2, Y2, Z2 = Q
        Z1s, Z2s = Z1 * Z1 % p, Z2 * Z2 % p
        U1, U2 = X1 * Z2s % p, X2 * Z1s % p
        S1, S2 = Y1 * Z2s * Z2 % p, Y2 * Z1s * Z1 % p
        if U1 == U2:
            return self.double(P) if S1 == S2 else None
        H, R = (U2 - U1) % p, (S2 - S1) % p
        H2 = H * H % p
        H3 = H2 * H % p
        X3 = (R * R - H3 - 2 * U1 * H2) % p
        Y3 = (R * (U1 * H2 - X3) - S1 * H3) % p
        return (X3, Y3, H * Z1 * Z2 % p)

    def mul2(self, u1: int, P: tuple[int, int], u2: int, Q: tuple[int, int]):
        """u1·P + u2·Q (Shamir's trick), affine result or None."""
        Pj, Qj = (P[0], P[1], 1), (Q[0], Q[1], 1)
        PQ = self.add(Pj, Qj)
        R = None
        for i in range(max(u1.bit_length(), u2.bit_length()) - 1, -1, -1):
            R = self.double(R)
            b1, b2 = (u1 >> i) & 1, (u2 >> i) & 1
            if b1 and b2:
                R = self.add(R, PQ)
            elif b1:
                R = self.add(R, Pj)
            elif b2:
                R = self.add(R, Qj)
        if R is None or R[2] % self.p == 0:
            return None
        zi = pow(R[2], -1, self.p)
        return (R[0] * zi * zi % self.p, R[1] * zi * zi * zi % self.p)

    def decode_point(self, b: bytes) -> tuple[int, int] | None:
        n = self.size
        if len(b) == 2 * n + 1 and b[0] == 4:
            pt = (int.from_bytes(b[1:n + 1], "big"), int.from_bytes(b[n + 1:], "big"))
        elif len(b) == n + 1 and b[0] in (2, 3):
            x = int.from_bytes(b[1:], "big")
            y2 = (x * x * x + self.a * x + self.b) % self.p
            y = pow(y2, (self.p + 1) // 4, self.p)  # p ≡ 3 (mod 4) for the three NIST curves
            if y & 1 != b[0] & 1:
                y = self.p - y
            pt = (x, y)
        else:
            return None
        return pt if self.on_curve(pt) else None


P256 = Curve(
    "P-256", 2**256 - 2**224 + 2**192 + 2**96 - 1,
    0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
)
P384 = Curve(
    "P-384", 2**384 - 2**128 - 2**96 + 2**32 - 1,
    0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
    0xAA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7,
    0x3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F,
    0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
)
P521 = Curve(
    "P-521", 2**521 - 1,
    0x0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00,
    0x00C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D3DBAA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66,
    0x011839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E662C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650,
    0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409,
)
_CURVES = {"1.2.840.10045.3.1.7": P256, "1.3.132.0.34": P384, "1.3.132.0.35": P521}


def ecdsa_verify(curve: Curve, point: tuple[int, int], digest: bytes, r: int, s: int) -> bool:
    n = curve.n
    if not (1 <= r < n and 1 <= s < n):
        return False
    e = int.from_bytes(digest, "big")
    excess = 8 * len(digest) - n.bit_length()
    if excess > 0:
        e >>= excess
    w = pow(s, -1, n)
    X = curve.mul2(e * w % n, curve.g, r * w % n, point)
    return X is not None and X[0] % n == r


# ---- Ed25519 (RFC 8032 5.1.7), extended coordinates ----
_EP = 2**255 - 19
_ED = -121665 * pow(121666, -1, _EP) % _EP
_EQ = 2**252 + 27742317777372353535851937790883648493
_SQRT_M1 = pow(2, (_EP - 1) // 4, _EP)


def _ed_add(P, Q):
    A = (P[1] - P[0]) * (Q[1] - Q[0]) % _EP
    B = (P[1] + P[0]) * (Q[1] + Q[0]) % _EP
    C = 2 * P[3] * Q[3] * _ED % _EP
    D = 2 * P[2] * Q[2] % _EP
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % _EP, G * H % _EP, F * G % _EP, E * H % _EP)


def _ed_mul(s: int, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            Q = _ed_add(Q, P)
        P = _ed_add(P, P)
        s >>= 1
    return Q


def _ed_decompress(b: bytes):
    if len(b) != 32:
        return None
    y = int.from_bytes(b, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _EP:
        return None
    x2 = (y * y - 1) * pow(_ED * y * y + 1, -1, _EP) % _EP
    if x2 == 0:
        if sign:
            return None
        x = 0
    else:
        x = pow(x2, (_EP + 3) // 8, _EP)
        if (x * x - x2) % _EP:
            x = x * _SQRT_M1 % _EP
        if (x * x - x2) % _EP:
            return None
        if x & 1 != sign:
            x = _EP - x
    return (x, y, 1, x * y % _EP)


_EG_Y = 4 * pow(5, -1, _EP) % _EP
_EG = _ed_decompress(_EG_Y.to_bytes(32, "little"))


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    A = _ed_decompress(public)
    R = _ed_decompress(signature[:32])
    if A is None or R is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _EQ:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _EQ
    sB = _ed_mul(s, _EG)
    rhs = _ed_add(R, _ed_mul(h, A))
    return (sB[0] * rhs[2] - rhs[0] * sB[2]) % _EP == 0 and (sB[1] * rhs[2] - rhs[1] * sB[2]) % _EP == 0


def _rsa_verify(key: bytes, hash_name: str, message: bytes, signature: bytes) -> bool:
    parts = der.children(key, der.root(key, der.SEQUENCE))
    if len(parts) != 2:
        return False
    n = int.from_bytes(der.expect(parts[0], der.INTEGER, "modulus").value(key), "big", signed=True)
    e = int.from_bytes(der.expect(parts[1], der.INTEGER, "publicExponent").value(key), "big", signed=True)
    if n <= 0 or e <= 1:
        return False
    k = (n.bit_length() + 7) // 8
    t = _DIGEST_INFO[hash_name] + hashlib.new(hash_name, message).digest()
    if len(signature) != k or k < len(t) + 11:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(em, expected)


def verify_signature(spki: bytes, algorithm: bytes, message: bytes, signature: bytes) -> bool:
    """True only when `signature` over `message` verifies with the key in `spki` (DER
    SubjectPublicKeyInfo) under `algorithm` (DER AlgorithmIdentifier)."""
    try:
        alg = der.children(algorithm, der.root(algorithm, der.SEQUENCE))
        alg_oid = der.decode_oid(der.expect(alg[0], der.OID, "algorithm").value(algorithm))
        kind, hash_name = _HASHES.get(alg_oid, (None, None))
        if kind is None:
            return False
        key_alg_t, bits_t = der.children(spki, der.root(spki, der.SEQUENCE))
        key_alg = der.children(spki, der.expect(key_alg_t, der.SEQUENCE, "algorithm"))
        key_oid = der.decode_oid(der.expect(key_alg[0], der.OID, "algorithm").value(spki))
        bits = der.expect(bits_t, der.BIT_STRING, "subjectPublicKey").value(spki)
        if not bits or bits[0] != 0:
            return False
        key = bits[1:]
        if kind == "ecdsa":
            if key_oid != "1.2.840.10045.2.1" or len(key_alg) != 2:
                return False
            curve = _CURVES.get(der.decode_oid(der.expect(key_alg[1], der.OID, "namedCurve").value(spki)))
            point = curve.decode_point(key) if curve else None
            if point is None:
                return False
            rs = der.children(signature, der.root(signature, der.SEQUENCE))
            if len(rs) != 2:
                return False
            r, s = (int.from_bytes(der.expect(x, der.INTEGER, "r/s").value(signature), "big", signed=True) for x in rs)
            return ecdsa_verify(curve, point, hashlib.new(hash_name, message).digest(), r, s)
        if kind == "rsa":
            return key_oid == "1.2.840.113549.1.1.1" and _rsa_verify(key, hash_name, message, signature)
        return key_oid == "1.3.101.112" and len(key_alg) == 1 and ed25519_verify(key, message, signature)
    except (DerError, ValueError, IndexError):
        return False
