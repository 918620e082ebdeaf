/**
 * OCSP (RFC 6960) for one certificate: the request (a CertID with SHA-1, as
 * every responder answers) and the answer, decoded with @peculiar/asn1-ocsp
 * and checked: a successful basic response, signed by the issuing CA itself
 * or by a responder certificate that CA issued for OCSP signing
 * (id-kp-OCSPSigning, currently valid), with a SingleResponse for our CertID
 * whose thisUpdate is not ahead and whose nextUpdate has not passed.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, ExtendedKeyUsage, id_ce_extKeyUsage } from '@peculiar/asn1-x509';
import { BasicOCSPResponse, CertID, id_kp_OCSPSigning, id_pkix_ocsp_basic, OCSPRequest, OCSPResponse, OCSPResponseStatus, Request, TBSRequest } from '@peculiar/asn1-ocsp';
import { parseCertificateFields } from '../../pki/index.js';
import { verifySignedBy } from './signature.js';
import { CLOCK_SKEW_MS } from './fetch-timing.js';

const SHA1 = '1.3.14.3.2.26';

export interface OcspAnswer {
  status: 'good' | 'revoked' | 'unknown';
  thisUpdate: Date;
  nextUpdate?: Date;
}

function certId(cert: X509Certificate, issuer: X509Certificate): CertID {
  const issuerFields = parseCertificateFields(issuer.raw);
  const serial = parseCertificateFields(cert.raw).serial;
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: SHA1, parameters: null }),
    issuerNameHash: new OctetString(createHash('sha1').update(issuerFields.subject).digest()),
    issuerKeyHash: new OctetString(createHash('sha1').update(issuerFields.publicKeyBits).digest()),
    serialNumber: Uint8Array.from(serial).buffer,
  });
}

/** The DER OCSPRequest for `cert` (no nonce: answers are cached and shared until nextUpdate). */
export function ocspRequest(cert: X509Certificate, issuer: X509Certificate): Buffer {
  const req = new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: [new Request({ reqCert: certId(cert, issuer) })] }) });
  return Buffer.from(AsnConvert.serialize(req));
}

const same = (a: ArrayBuffer | OctetString, b: ArrayBuffer | OctetString) =>
  Buffer.from(a instanceof OctetString ? a.buffer : a).equals(Buffer.from(b instanceof OctetString ? b.buffer : b));
const unsigned = (b: ArrayBuffer) => { const x = Buffer.from(b); let i = 0; while (i < x.length - 1 && x[i] === 0) i++; return x.subarray(i); };

/** Decodes and checks a responder's answer about `cert`; throws with the reason when it cannot be used. */
export function readOcspAnswer(der: Buffer, cert: X509Certificate, issuer: X509Certificate, now = Date.now()): OcspAnswer {
  const res = AsnConvert.parse(der, OCSPResponse);
  if (res.responseStatus !== OCSPResponseStatus.successful) throw new Error(`the responder answered ${OCSPResponseStatus[res.responseStatus] ?? res.responseStatus}`);
  if (!res.responseBytes || res.responseBytes.responseType !== id_pkix_ocsp_basic) throw new Error('the answer is not a basic OCSP response');
  const basic = AsnConvert.parse(res.responseBytes.response.buffer, BasicOCSPResponse);
  const signed = basic.tbsResponseDataRaw ? Buffer.from(basic.tbsResponseDataRaw) : Buffer.from(AsnConvert.serialize(basic.tbsResponseData));
  const algorithm = Buffer.from(AsnConvert.serialize(basic.signatureAlgorithm));
  const signature = Buffer.from(basic.signature);
  if (!signedByIssuerOrResponder(signed, algorithm, signature, issuer, basic.certs ?? [], now)) {
    throw new Error('the answer is signed neither by the issuing CA nor by a responder certificate it issued for OCSP signing');
  }
  const id = certId(cert, issuer);
  const single = basic.tbsResponseData.responses.find((r) => unsigned(r.certID.serialNumber).equals(unsigned(id.serialNumber))
    && same(r.certID.issuerKeyHash, id.issuerKeyHash) && same(r.certID.issuerNameHash, id.issuerNameHash));
  if (!single) throw new Error('the answer says nothing about this certificate');
  if (single.thisUpdate.getTime() > now + CLOCK_SKEW_MS) throw new Error(`the answer's thisUpdate (${single.thisUpdate.toISOString()}) is ahead of this clock`);
  if (single.nextUpdate && single.nextUpdate.getTime() < now) throw new Error(`the answer is stale: its nextUpdate (${single.nextUpdate.toISOString()}) has passed`);
  const s = single.certStatus;
  const status = s.revoked ? 'revoked' : s.unknown === null ? 'unknown' : 'good';
  return { status, thisUpdate: single.thisUpdate, nextUpdate: single.nextUpdate };
}

function signedByIssuerOrResponder(signed: Buffer, algorithm: Buffer, signature: Buffer, issuer: X509Certificate, certs: Certificate[], now: number): boolean {
  if (verifySignedBy(issuer.publicKey, algorithm, signed, signature)) return true;
  for (const c of certs) {
    let responder: X509Certificate;
    try { responder = new X509Certificate(Buffer.from(AsnConvert.serialize(c))); } catch { continue; }
    if (!responder.checkIssued(issuer) || !responder.verify(issuer.publicKey)) continue;
    if (now < new Date(responder.validFrom).getTime() || now > new Date(responder.validTo).getTime()) continue;
    const eku = c.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_extKeyUsage);
    if (!eku || !AsnConvert.parse(eku.extnValue, ExtendedKeyUsage).includes(id_kp_OCSPSigning)) continue;
    if (verifySignedBy(responder.publicKey, algorithm, signed, signature)) return true;
  }
  return false;
}
