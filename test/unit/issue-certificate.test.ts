import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issueCertificate } from '../../src/pki/dev/issue-certificate.js';
import { findExtension, parseCertificateFields } from '../../src/pki/x509-fields.js';

// A UUID-form OID (X.667) a user may configure: arcs far beyond 2^53.
const HUGE_OID = '2.25.273976046638333143125377024662248162319.1';

test('extra extensions keep OIDs with arcs beyond 2^53 (a 2.25 UUID OID), and the signature still verifies', async () => {
  const ca = await issueCertificate({ subject: 'CN=forger', ca: true, keyAlgorithm: 'ec-p384' });
  const value = Buffer.from('3003020101', 'hex');
  const c = await issueCertificate({
    subject: 'CN=x', issuer: ca,
    extraExtensions: [{ oid: HUGE_OID, critical: false, value }, { oid: '1.3.6.1.4.1.99999.1', critical: true, value }],
  });
  const f = parseCertificateFields(c.cert.raw);
  assert.deepEqual(findExtension(f, HUGE_OID)?.value, value);
  assert.equal(findExtension(f, HUGE_OID)?.critical, false);
  assert.equal(findExtension(f, '1.3.6.1.4.1.99999.1')?.critical, true);
  assert.equal(f.extensions.filter((e) => e.oid.startsWith('2.25')).length, 1, 'no truncated "2.25" copy');
  assert.equal(c.cert.verify(ca.cert.publicKey), true);
  assert.equal(c.cert.checkIssued(ca.cert), true);
});

test('a self-signed certificate with a huge-arc extension verifies with its own key', async () => {
  const c = await issueCertificate({ subject: 'CN=self', keyAlgorithm: 'ed25519', extraExtensions: [{ oid: HUGE_OID, critical: false, value: Buffer.from('0500', 'hex') }] });
  assert.ok(findExtension(parseCertificateFields(c.cert.raw), HUGE_OID));
  assert.equal(c.cert.verify(c.cert.publicKey), true);
});
