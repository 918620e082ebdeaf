/**
 * Where a certificate says its revocation is published
 * (src/edge/revocation/certificate-urls.ts): only http: distribution points
 * and OCSP responders are followed; an indirect CRL (cRLIssuer) is not; a
 * malformed extension names nothing rather than throwing.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Certificate, CRLDistributionPoints, DistributionPoint, DistributionPointName, Extension, Extensions, GeneralName, id_ce_cRLDistributionPoints } from '@peculiar/asn1-x509';
import { issueCertificate } from '../../src/pki/dev/index.js';
import { revocationUrls } from '../../src/edge/revocation/certificate-urls.js';

test('http: CRL distribution points and OCSP responders are named; ldap: and file: ones are not', async () => {
  const ca = await issueCertificate({ subject: 'CN=urls CA', ca: true });
  const cert = await issueCertificate({
    subject: 'CN=alice', issuer: ca,
    crlUrls: ['http://crl.example/ca.crl', 'ldap://ldap.example/cn=ca?certificateRevocationList', 'HTTP://CRL2.example/ca.crl'],
    ocspUrls: ['http://ocsp.example/', 'https://ocsp-tls.example/'],
  });
  const urls = revocationUrls(cert.cert);
  assert.deepEqual(urls.crl, ['http://crl.example/ca.crl', 'HTTP://CRL2.example/ca.crl']);
  assert.deepEqual(urls.ocsp, ['http://ocsp.example/']);
  // read once per certificate object
  assert.equal(revocationUrls(cert.cert), urls);
});

test('a certificate that names nowhere gives empty lists', async () => {
  const cert = await issueCertificate({ subject: 'CN=plain' });
  assert.deepEqual(revocationUrls(cert.cert), { crl: [], ocsp: [] });
});

/** `cert` re-encoded with `extension` added (unsigned for real: the reader never checks the signature, OpenSSL did) */
function withExtension(cert: X509Certificate, extension: Extension): X509Certificate {
  const parsed = AsnConvert.parse(cert.raw, Certificate);
  parsed.tbsCertificate.extensions = new Extensions([...(parsed.tbsCertificate.extensions ?? []), extension]);
  return new X509Certificate(Buffer.from(AsnConvert.serialize(parsed)));
}

test('an indirect CRL (a point with cRLIssuer, signed by someone else) is not followed', async () => {
  const cert = await issueCertificate({ subject: 'CN=indirect' });
  const uri = (u: string) => new GeneralName({ uniformResourceIdentifier: u });
  const points = new CRLDistributionPoints([
    new DistributionPoint({ distributionPoint: new DistributionPointName({ fullName: [uri('http://indirect.example/x.crl')] }), cRLIssuer: [uri('http://someone.else/')] }),
    new DistributionPoint({ distributionPoint: new DistributionPointName({ fullName: [uri('http://direct.example/x.crl')] }) }),
  ]);
  const ext = new Extension({ extnID: id_ce_cRLDistributionPoints, critical: false, extnValue: new OctetString(AsnConvert.serialize(points)) });
  assert.deepEqual(revocationUrls(withExtension(cert.cert, ext)).crl, ['http://direct.example/x.crl']);
});

test('a malformed distribution-points extension names nothing and does not throw', async () => {
  const cert = await issueCertificate({ subject: 'CN=malformed' });
  const ext = new Extension({ extnID: id_ce_cRLDistributionPoints, critical: false, extnValue: new OctetString(new Uint8Array([0x30, 0x05, 0xa0, 0x7f])) });
  assert.deepEqual(revocationUrls(withExtension(cert.cert, ext)), { crl: [], ocsp: [] });
});
