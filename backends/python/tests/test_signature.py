"""The pure-Python signature check that pins the delegation CA by key."""
import json
import pathlib
import ssl
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from countersign_backend.signature import P256, P384, P521, ed25519_verify, verify_signature  # noqa: E402
from countersign_backend.x509 import parse_certificate  # noqa: E402

VECTORS = json.loads((pathlib.Path(__file__).resolve().parents[3] / "test" / "vectors" / "delegation-vectors.json").read_text())
BY_NAME = {c["name"]: c for c in VECTORS["certificates"]}


def cert(pem: str):
    return parse_certificate(ssl.PEM_cert_to_DER_cert(pem))


class Curves(unittest.TestCase):
    def test_generator_is_on_the_curve_and_has_order_n(self):
        for c in (P256, P384, P521):
            with self.subTest(c.name):
                self.assertTrue(c.on_curve(c.g))
                self.assertEqual(c.mul2(1, c.g, 0, c.g), c.g)
                self.assertIsNone(c.mul2(c.n, c.g, 0, c.g))
                self.assertEqual(c.mul2(c.n + 1, c.g, 0, c.g), c.g)


class Ed25519(unittest.TestCase):
    def test_rfc8032_test_1(self):
        pub = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        sig = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        self.assertTrue(ed25519_verify(pub, b"", sig))
        self.assertFalse(ed25519_verify(pub, b"x", sig))
        self.assertFalse(ed25519_verify(pub, b"", sig[:-1] + bytes([sig[-1] ^ 1])))


class PinnedKey(unittest.TestCase):
    CASES = [("delegated-alice", "delegation"), ("delegated-by-rsa-ca", "rsa"), ("delegated-by-p384-ca", "p384"), ("delegated-by-ed25519-ca", "ed25519")]

    def test_a_minted_certificate_verifies_with_its_ca_key_only(self):
        for name, ca in self.CASES:
            with self.subTest(name):
                c, issuer = cert(BY_NAME[name]["cert"]), cert(VECTORS["cas"][ca])
                self.assertTrue(verify_signature(issuer.spki, c.signature_algorithm, c.tbs, c.signature))
                tbs = bytearray(c.tbs)
                tbs[-5] ^= 1
                self.assertFalse(verify_signature(issuer.spki, c.signature_algorithm, bytes(tbs), c.signature))
                sig = bytearray(c.signature)
                sig[len(sig) // 2] ^= 1
                self.assertFalse(verify_signature(issuer.spki, c.signature_algorithm, c.tbs, bytes(sig)))
                for other in ("lookalike", "client", "rsa", "ed25519", "p384", "delegation"):
                    if other != ca:
                        self.assertFalse(verify_signature(cert(VECTORS["cas"][other]).spki, c.signature_algorithm, c.tbs, c.signature), other)

    def test_the_lookalike_forgery_does_not_verify_with_the_delegation_key(self):
        c = cert(BY_NAME["forged-lookalike-ca"]["cert"])
        real, fake = cert(VECTORS["cas"]["delegation"]), cert(VECTORS["cas"]["lookalike"])
        self.assertEqual(c.issuer, real.subject, "same issuer name")
        self.assertFalse(verify_signature(real.spki, c.signature_algorithm, c.tbs, c.signature))
        self.assertTrue(verify_signature(fake.spki, c.signature_algorithm, c.tbs, c.signature))

    def test_cost_is_reported(self):
        c, issuer = cert(BY_NAME["delegated-alice"]["cert"]), cert(VECTORS["cas"]["delegation"])
        t = time.perf_counter()
        for _ in range(20):
            self.assertTrue(verify_signature(issuer.spki, c.signature_algorithm, c.tbs, c.signature))
        print(f"\nECDSA P-256 verify: {(time.perf_counter() - t) / 20 * 1000:.2f} ms", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()


class OpensslMadeCertificates(unittest.TestCase):
    """Keys generated at run time by the openssl CLI (never committed): curves and hashes the vectors do not cover."""

    def test_self_signed_certificates_verify_with_their_own_key(self):
        import os
        import shutil
        import subprocess
        import tempfile

        if shutil.which("openssl") is None:
            self.fail("openssl is required (it is in .ci/run)")
        cases = [
            (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521", "-sha512"], "P-521/SHA-512"),
            (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-sha384"], "P-256/SHA-384"),
            (["-newkey", "rsa:2048", "-sha384"], "RSA-2048/SHA-384"),
            (["-newkey", "rsa:2048", "-sha512"], "RSA-2048/SHA-512"),
        ]
        with tempfile.TemporaryDirectory() as d:
            for args, what in cases:
                with self.subTest(what):
                    key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
                    subprocess.run(["openssl", "req", "-x509", "-nodes", "-subj", "/CN=openssl test", "-days", "1", "-keyout", key, "-out", crt, *args],
                                   check=True, capture_output=True)
                    os.chmod(key, 0o600)
                    c = cert(pathlib.Path(crt).read_text())
                    self.assertTrue(verify_signature(c.spki, c.signature_algorithm, c.tbs, c.signature))
                    self.assertFalse(verify_signature(c.spki, c.signature_algorithm, c.tbs + b"\x00", c.signature))
