/**
 * Byte-exact slices of a certificate's fields. The minter copies the subject and
 * subjectAltName verbatim into the countersigned certificate, so they are sliced,
 * never decoded and re-encoded.
 */
import { CountersignError } from '../errors.js';
import { TAG, content, decodeOid, decodeTime, expectTag, raw, readChildren, readRoot, type Tlv } from './der.js';

export interface RawExtension { oid: string; critical: boolean; value: Buffer; der: Buffer }

export interface CertificateFields {
  tbs: Buffer;
  serial: Buffer; // INTEGER content bytes (two's complement, as encoded)
  issuer: Buffer; // DER Name
  subject: Buffer; // DER Name
  notBefore: Date;
  notAfter: Date;
  spki: Buffer; // DER SubjectPublicKeyInfo
  /** the subjectPublicKey BIT STRING's key bytes (without the unused-bits byte) */
  publicKeyBits: Buffer;
  extensions: RawExtension[];
}

export function parseCertificateFields(der: Uint8Array): CertificateFields {
  try {
    const cert = readRoot(der, TAG.SEQUENCE);
    const [tbsT] = readChildren(der, cert);
    expectTag(tbsT, TAG.SEQUENCE, 'tbsCertificate');
    const f = readChildren(der, tbsT);
    let i = 0;
    if (f[0]?.tag === 0xa0) i++; // version
    const serialT = expectTag(f[i++], TAG.INTEGER, 'serialNumber');
    i++; // signature algorithm
    const issuerT = expectTag(f[i++], TAG.SEQUENCE, 'issuer');
    const validityT = expectTag(f[i++], TAG.SEQUENCE, 'validity');
    const subjectT = expectTag(f[i++], TAG.SEQUENCE, 'subject');
    const spkiT = expectTag(f[i++], TAG.SEQUENCE, 'subjectPublicKeyInfo');
    const [nb, na] = readChildren(der, validityT);
    const spkiParts = readChildren(der, spkiT);
    const bits = expectTag(spkiParts[1], TAG.BIT_STRING, 'subjectPublicKey');
    const extensions: RawExtension[] = [];
    for (; i < f.length; i++) {
      if (f[i].tag !== 0xa3) continue;
      const [list] = readChildren(der, f[i]);
      for (const e of readChildren(der, expectTag(list, TAG.SEQUENCE, 'extensions'))) extensions.push(readExtension(der, e));
    }
    return {
      tbs: raw(der, tbsT),
      serial: content(der, serialT),
      issuer: raw(der, issuerT),
      subject: raw(der, subjectT),
      notBefore: decodeTime(nb.tag, content(der, nb)),
      notAfter: decodeTime(na.tag, content(der, na)),
      spki: raw(der, spkiT),
      publicKeyBits: content(der, bits).subarray(1),
      extensions,
    };
  } catch (err) {
    if (err instanceof CountersignError && err.code === 'ERR_DER_INVALID') {
      throw new CountersignError('ERR_CERT_INVALID', `certificate is not valid DER: ${err.message}`, { cause: err });
    }
    if (err instanceof TypeError) throw new CountersignError('ERR_CERT_INVALID', 'certificate is missing required fields', { cause: err });
    throw err;
  }
}

function readExtension(der: Uint8Array, e: Tlv): RawExtension {
  const parts = readChildren(der, expectTag(e, TAG.SEQUENCE, 'extension'));
  const oid = decodeOid(content(der, expectTag(parts[0], TAG.OID, 'extnID')));
  let critical = false;
  let v = parts[1];
  if (v.tag === TAG.BOOLEAN) { critical = content(der, v)[0] !== 0; v = parts[2]; }
  expectTag(v, TAG.OCTET_STRING, 'extnValue');
  return { oid, critical, value: content(der, v), der: raw(der, e) };
}

export function findExtension(fields: CertificateFields, oid: string): RawExtension | undefined {
  return fields.extensions.find((e) => e.oid === oid);
}

export const OID = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;
