/**
 * The OCSP request we send and the checks on the answer we read
 * (src/edge/revocation/ocsp-message.ts), with answers built and signed here
 * as a responder would: by the issuing CA, by a delegated responder it
 * issued for OCSP signing, and by keys that must not be believed.
 */
import 'reflect-metadata';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, KeyObject, sign } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate } from '@peculiar/asn1-x509';
import {
  BasicOCSPResponse, CertID, CertStatus, id_pkix_ocsp_basic, OCSPRequest, OCSPResponse, OCSPResponseStatus,
  ResponderID, ResponseBytes, ResponseData, RevokedInfo, SingleResponse,
} from '@peculiar/asn1-ocsp';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/index.js';
import { ocspRequest, readOcspAnswer } from '../../src/edge/revocation/ocsp-message.js';

let ca: IssuedCertificate;
let otherCa: IssuedCertificate;
let client: IssuedCertificate;
let neighbour: IssuedCertificate;
let responder: IssuedCertificate;
let responderWithoutEku: IssuedCertificate;
let strangerResponder: IssuedCertificate;

before(async () => {
  ca = await issueCertificate({ subject: 'CN=ocsp test CA', ca: true });
  otherCa = await issueCertificate({ subject: 'CN=ocsp test CA', ca: true }); // same name, another key
  client = await issueCertificate({ subject: 'CN=alice', issuer: ca, ocspUrls: ['http://127.0.0.1:1/'] });
  neighbour = await issueCertificate({ subject: 'CN=bob', issuer: ca });
  responder = await issueCertificate({ subject: 'CN=responder', issuer: ca, usage: 'ocsp' });
  responderWithoutEku = await issueCertificate({ subject: 'CN=responder', issuer: ca, usage: 'client' });
  strangerResponder = await issueCertificate({ subject: 'CN=responder', issuer: otherCa, usage: 'ocsp' });
});

interface AnswerOptions {
  status?: 'good' | 'revoked' | 'unknown';
  signer?: IssuedCertificate;
  /** certificates carried in the answer (a delegated responder's) */
  certs?: IssuedCertificate[];
  /** the CertID answered about; default: the one our request asks */
  about?: CertID;
  thisUpdate?: Date;
  nextUpdate?: Date | null;
  responseStatus?: OCSPResponseStatus;
  /** after signing, change the answer to good (what a forger between us and the responder would do) */
  tamper?: boolean;
}

/** The CertID our request for `cert` asks about, read back from the request's DER. */
function askedCertId(cert: IssuedCertificate): CertID {
  const request = AsnConvert.parse(ocspRequest(cert.cert, ca.cert), OCSPRequest);
  return request.tbsRequest.requestList[0]!.reqCert;
}

function answer(o: AnswerOptions = {}): Buffer {
  if (o.responseStatus !== undefined && o.responseStatus !== OCSPResponseStatus.successful) {
    return Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: o.responseStatus })));
  }
  const status = o.status ?? 'good';
  const certStatus = status === 'good' ? new CertStatus({ good: null })
    : status === 'revoked' ? new CertStatus({ revoked: new RevokedInfo({ revocationTime: new Date(Date.now() - 3_600_000) }) })
      : new CertStatus({ unknown: null });
  const signer = o.signer ?? ca;
  const single = new SingleResponse({
    certID: o.about ?? askedCertId(client),
    certStatus,
    thisUpdate: o.thisUpdate ?? new Date(Date.now() - 60_000),
    ...(o.nextUpdate === null ? {} : { nextUpdate: o.nextUpdate ?? new Date(Date.now() + 3_600_000) }),
  });
  const keyHash = createHash('sha1').update(signer.cert.publicKey.export({ type: 'spki', format: 'der' })).digest();
  const data = new ResponseData({ responderID: new ResponderID({ byKey: new OctetString(keyHash) }), producedAt: new Date(), responses: [single] });
  const tbs = Buffer.from(AsnConvert.serialize(data));
  const signature = sign('sha256', tbs, KeyObject.from(signer.signingKey));
  if (o.tamper) single.certStatus = new CertStatus({ good: null });
  const basic = new BasicOCSPResponse({
    tbsResponseData: data,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' }), // ecdsa-with-SHA256
    signature: Uint8Array.from(signature).buffer,
    ...(o.certs ? { certs: o.certs.map((c) => AsnConvert.parse(c.cert.raw, Certificate)) } : {}),
  });
  const bytes = new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) });
  return Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: OCSPResponseStatus.successful, responseBytes: bytes })));
}

const read = (der: Buffer, cert = client) => readOcspAnswer(der, cert.cert, ca.cert);

test('the request asks about the client by the CA\'s name and key hashes (SHA-1) and the client\'s serial', () => {
  const id = askedCertId(client);
  assert.equal(id.hashAlgorithm.algorithm, '1.3.14.3.2.26');
  assert.equal(Buffer.from(id.serialNumber).toString('hex').replace(/^00/, ''), client.cert.serialNumber.toLowerCase().replace(/^00/, ''));
  const caSpkiBits = Buffer.from(AsnConvert.parse(ca.cert.raw, Certificate).tbsCertificate.subjectPublicKeyInfo.subjectPublicKey);
  assert.deepEqual(Buffer.from(id.issuerKeyHash.buffer), createHash('sha1').update(caSpkiBits).digest());
  // the request is DER a responder can read: it parses back whole
  assert.equal(AsnConvert.parse(ocspRequest(client.cert, ca.cert), OCSPRequest).tbsRequest.requestList.length, 1);
});

test('an answer signed by the issuing CA is read: good, revoked and unknown each as they are', () => {
  assert.equal(read(answer({ status: 'good' })).status, 'good');
  assert.equal(read(answer({ status: 'revoked' })).status, 'revoked');
  assert.equal(read(answer({ status: 'unknown' })).status, 'unknown');
  const a = read(answer({ nextUpdate: new Date('2099-01-01T00:00:00Z') }));
  assert.equal(a.nextUpdate?.toISOString(), '2099-01-01T00:00:00.000Z');
  assert.equal(read(answer({ nextUpdate: null })).nextUpdate, undefined);
});

test('an answer signed by a responder the CA issued for OCSP signing is read, when it carries that certificate', () => {
  assert.equal(read(answer({ signer: responder, certs: [responder], status: 'revoked' })).status, 'revoked');
  assert.throws(() => read(answer({ signer: responder })), /signed neither by the issuing CA nor by a responder/);
});

test('an answer signed by anyone else is refused: no OCSP-signing usage, another CA\'s responder, the other CA itself, tampered data', () => {
  const refused = /signed neither by the issuing CA nor by a responder/;
  assert.throws(() => read(answer({ signer: responderWithoutEku, certs: [responderWithoutEku] })), refused);
  assert.throws(() => read(answer({ signer: strangerResponder, certs: [strangerResponder] })), refused);
  assert.throws(() => read(answer({ signer: otherCa })), refused);
  assert.throws(() => read(answer({ status: 'revoked', tamper: true })), refused);
  assert.equal(read(answer({ status: 'revoked' })).status, 'revoked');
});

test('an answer about another certificate, a stale one and one from the future are refused with the reason', () => {
  assert.throws(() => read(answer({ about: askedCertId(neighbour) })), /says nothing about this certificate/);
  assert.throws(() => read(answer({ nextUpdate: new Date(Date.now() - 1_000) })), /stale: its nextUpdate .* has passed/);
  assert.throws(() => read(answer({ thisUpdate: new Date(Date.now() + 3_600_000) })), /thisUpdate .* is ahead of this clock/);
  // five minutes of clock skew are forgiven
  assert.equal(read(answer({ thisUpdate: new Date(Date.now() + 60_000) })).status, 'good');
});

test('an unsuccessful status and bytes that are not an OCSP response are refused, never read as good', () => {
  assert.throws(() => read(answer({ responseStatus: OCSPResponseStatus.tryLater })), /the responder answered tryLater/);
  assert.throws(() => read(answer({ responseStatus: OCSPResponseStatus.unauthorized })), /the responder answered unauthorized/);
  assert.throws(() => read(Buffer.from('<html>not found</html>')));
  assert.throws(() => read(Buffer.alloc(0)));
  const good = answer();
  assert.throws(() => read(good.subarray(0, good.length - 10)));
});
