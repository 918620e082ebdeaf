"""The shared golden vectors (test/vectors/delegation-vectors.json), generated
from the TypeScript library: Python must agree with every one."""
import datetime as dt
import json
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from countersign_backend import DEFAULT_EXTENSION_OID, CountersignError, Identifier, PolicyEngine, decode_extension, path_match  # noqa: E402

VECTORS = json.loads((pathlib.Path(__file__).resolve().parents[3] / "test" / "vectors" / "delegation-vectors.json").read_text())


def iso(d: dt.datetime) -> str:
    return d.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class CertificateVectors(unittest.TestCase):
    def test_default_oid(self):
        self.assertEqual(VECTORS["defaultExtensionOid"], DEFAULT_EXTENSION_OID)

    def test_certificates(self):
        self.assertGreater(len(VECTORS["certificates"]), 20)
        for c in VECTORS["certificates"]:
            with self.subTest(c["name"]):
                now = dt.datetime.fromisoformat(c["now"].replace("Z", "+00:00"))
                kwargs = {"allow_direct": c["allowDirect"], "now": lambda now=now: now}
                if c.get("extensionOid"):
                    kwargs["extension_oid"] = c["extensionOid"]
                want = c["expect"]
                try:
                    identifier = Identifier([VECTORS["cas"][k] for k in c["delegationCAs"]], **kwargs)
                    import ssl
                    got = identifier.identify_certificate(ssl.PEM_cert_to_DER_cert(c["cert"]), [ssl.PEM_cert_to_DER_cert(p) for p in c.get("chain", [])])
                except CountersignError as e:
                    self.assertEqual(e.code, want.get("error"), e.message)
                    continue
                self.assertNotIn("error", want, f"got {got}")
                self.assertEqual({
                    "via": got.via, "identity": got.identity, "certSha256": got.cert_sha256, "certSha1": got.cert_sha1,
                    "subject": got.subject, "issuer": got.issuer, "namesVouched": got.names_vouched, "serial": got.serial,
                    "notAfter": iso(got.not_after),
                    **({"proxyIdentity": got.proxy.identity} if got.proxy else {}),
                    "embedded": got.via == "delegated" and got.certificate is not None,
                }, want)


class ExtensionVectors(unittest.TestCase):
    def test_extensions(self):
        for e in VECTORS["extensions"]:
            with self.subTest(e["name"]):
                want = e["expect"]
                try:
                    d = decode_extension(bytes.fromhex(e["der"]))
                except CountersignError as err:
                    self.assertEqual(err.code, want.get("error"), err.message)
                    continue
                got = {
                    "version": d.version, "certSha256": d.cert_sha256.hex(), "spkiSha256": d.spki_sha256.hex(), "certSha1": d.cert_sha1.hex(),
                    "subject": d.subject.hex(), "issuer": d.issuer.hex(), "serial": d.serial.hex(), "notAfter": iso(d.not_after),
                    "namesVouched": d.names_vouched,
                }
                if d.certificate is not None:
                    got["certificate"] = d.certificate.hex()
                self.assertEqual(got, want)


class PolicyVectors(unittest.TestCase):
    def test_path_match(self):
        for p in VECTORS["pathMatch"]:
            with self.subTest(pattern=p["pattern"], path=p["path"]):
                try:
                    got = {"match": path_match(p["pattern"], p["path"])}
                except CountersignError as e:
                    got = {"error": e.code}
                self.assertEqual(got, p["expect"])

    def test_policy(self):
        d = VECTORS["policy"]["definition"]
        engine = PolicyEngine(d["policies"], d.get("disabled", ()))
        for r in VECTORS["policy"]["requests"]:
            with self.subTest(method=r["method"], path=r["path"]):
                got = engine.authorize(r["identity"], r["method"], r["path"])
                want = r["expect"]
                self.assertEqual(got.allowed, want["allowed"])
                self.assertEqual(got.policy, want.get("policy"))
                self.assertEqual(got.reason, want.get("reason"))


if __name__ == "__main__":
    unittest.main()
