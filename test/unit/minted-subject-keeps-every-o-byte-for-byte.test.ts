/**
 * A backend that reads groups from the subject (Kubernetes: CN = user, every
 * O = a group) sees the same groups through countersign: the minted
 * certificate's subject is the original's DER byte for byte, for a subject
 * with several O RDNs and multi-valued RDNs (O=a+O=b, OU=x+CN=…). The
 * k8s-front-proxy header format reads the same subject as Go's pkix.Name does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { DelegationMinter } from '../../src/delegation/index.js';
import { DEFAULT_DELEGATION_LIMITS } from '../../src/config/index.js';
import { k8sFrontProxyHeaders } from '../../src/forward/identity-headers.js';
import { describeCertificate, formatDerName, loadSigningCa, nameAttributes, parseCertificateFields } from '../../src/pki/index.js';
import { issueCertificate } from '../../src/pki/dev/index.js';

const SUBJECTS = [
  'CN=jane, O=system:masters, O=developers, O=ops',
  'CN=jane, O=developers+O=ops, OU=platform+OU=sre, O=Example\\, Inc.',
  'O=first, CN=service-account, O=second+CN=last-cn, O=grüne Gruppe',
];

for (const subject of SUBJECTS) {
  test(`the minted subject is the original's DER byte for byte: ${subject}`, async () => {
    const ca = await issueCertificate({ subject: 'CN=test delegation CA', ca: true });
    const client = await issueCertificate({ subject, issuer: await issueCertificate({ subject: 'CN=client CA', ca: true }) });
    const minter = new DelegationMinter({ ...DEFAULT_DELEGATION_LIMITS, ca: loadSigningCa({ certPem: ca.certPem, keyPem: ca.keyPem, what: 'delegation.ca' }), keyPoolSize: 1 });
    const original = new X509Certificate(client.certPem);
    const minted = new X509Certificate(minter.credentialsFor(describeCertificate(original), { namesVouched: true }).certPem);
    const a = parseCertificateFields(original.raw).subject;
    const b = parseCertificateFields(minted.raw).subject;
    assert.equal(b.toString('hex'), a.toString('hex'));
    // several O values really are there (the test is not vacuous)
    assert.ok(nameAttributes(a).filter((x) => x.short === 'O').length >= 2);
    assert.equal(formatDerName(a).includes('+'), subject.includes('+'), `multi-valued RDNs encoded as such: ${formatDerName(a)}`);
    assert.equal(minted.issuer, 'CN=test delegation CA');
  });
}

test('k8s-front-proxy: X-Remote-User is the last CN, one X-Remote-Group per O in encoding order', async () => {
  const client = await issueCertificate({ subject: SUBJECTS[2] });
  const h = k8sFrontProxyHeaders(new X509Certificate(client.certPem).raw);
  assert.equal(h['X-Remote-User'], 'last-cn');
  assert.deepEqual(h['X-Remote-Group'], ['first', 'second', Buffer.from('grüne Gruppe', 'utf8').toString('latin1')]);
});

test('k8s-front-proxy: a subject without CN is refused with a typed error', async () => {
  const client = await issueCertificate({ subject: 'O=nobody' });
  assert.throws(() => k8sFrontProxyHeaders(new X509Certificate(client.certPem).raw), { code: 'ERR_IDENTITY_HEADER_VALUE' });
});
