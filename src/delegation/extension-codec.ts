/**
 * The delegation extension: what the minted certificate says about the original
 * client certificate. ASN.1 module in docs/delegation.md:
 *
 *   CountersignDelegation ::= SEQUENCE {
 *     version           INTEGER { v1(1) },
 *     certSha256        OCTET STRING (SIZE (32)),
 *     spkiSha256        OCTET STRING (SIZE (32)),
 *     certSha1          OCTET STRING (SIZE (20)),
 *     subject           Name,
 *     issuer            Name,
 *     serialNumber      CertificateSerialNumber,
 *     notAfter          GeneralizedTime,
 *     certificate   [0] IMPLICIT OCTET STRING OPTIONAL }
 */
import { CountersignError } from '../errors.js';
import { der, formatDerName } from '../pki/index.js';

const { TAG, content, decodeTime, expectTag, generalizedTime, implicitPrimitive, octets, raw, readChildren, readRoot, seq, smallInt, tlv } = der;

/**
 * UUID-derived OID in Microsoft's arc for GUID-based OIDs (1.2.840.113556.1.8000.2554,
 * each arc a slice of the UUID ce1dde02-8f51-49bc-8b0f-5c5afd11040f): no registration
 * needed, and every arc is below 2^31 so Go's crypto/x509 (KES, etcd, Kubernetes) can
 * parse it. The X.667 form 2.25.<uuid> cannot be parsed by Go at all.
 */
export const DELEGATION_OID = '1.2.840.113556.1.8000.2554.52765.56834.36689.18876.35599.6052605.1115151.1';
export const DELEGATION_VERSION = 1;

export interface DelegationExtension {
  version: 1;
  /** SHA-256 of the original certificate DER */
  certSha256: Buffer;
  /** SHA-256 of the original SubjectPublicKeyInfo: the identity */
  spkiSha256: Buffer;
  /** SHA-1 of the original certificate DER */
  certSha1: Buffer;
  /** DER Name, verbatim from the original */
  subject: Buffer;
  /** DER Name, verbatim from the original */
  issuer: Buffer;
  /** serial number INTEGER content bytes, verbatim from the original */
  serial: Buffer;
  notAfter: Date;
  /** the whole original certificate DER, when the proxy is configured to embed it */
  certificate?: Buffer;
}

function malformed(message: string, cause?: unknown): never {
  throw new CountersignError('ERR_DELEGATION_EXTENSION_MALFORMED', `delegation extension: ${message}`, cause ? { cause } : undefined);
}

export function encodeDelegationExtension(ext: DelegationExtension): Buffer {
  if (ext.certSha256.length !== 32 || ext.spkiSha256.length !== 32 || ext.certSha1.length !== 20) {
    throw new RangeError('delegation extension: digest of the wrong length');
  }
  const parts = [
    smallInt(ext.version),
    octets(ext.certSha256),
    octets(ext.spkiSha256),
    octets(ext.certSha1),
    ext.subject,
    ext.issuer,
    tlv(TAG.INTEGER, ext.serial),
    generalizedTime(ext.notAfter),
  ];
  if (ext.certificate) parts.push(implicitPrimitive(0, ext.certificate));
  return seq(...parts);
}

export function decodeDelegationExtension(der: Uint8Array): DelegationExtension {
  let f;
  try {
    f = readChildren(der, readRoot(der, TAG.SEQUENCE));
  } catch (err) {
    malformed((err as Error).message, err);
  }
  if (f.length === 0) malformed('empty SEQUENCE');
  try {
    const v = content(der, expectTag(f[0], TAG.INTEGER, 'version'));
    if (v.length === 0) malformed('empty version');
    // DER INTEGERs are minimal: 02 02 00 01 is not "version 1", nor an unknown version
    if (v.length > 1 && ((v[0] === 0 && !(v[1] & 0x80)) || (v[0] === 0xff && v[1] & 0x80))) malformed('version is not a minimally encoded INTEGER');
    if (v.length !== 1 || v[0] !== DELEGATION_VERSION) {
      throw new CountersignError('ERR_DELEGATION_EXTENSION_VERSION',
        `delegation extension: version ${v.length <= 6 ? v.readIntBE(0, v.length) : '(huge)'} is not supported (this library reads version ${DELEGATION_VERSION}); upgrade countersign/backend`);
    }
    if (f.length !== 8 && f.length !== 9) malformed(`expected 8 or 9 fields, found ${f.length}`);
    const digest = (i: number, len: number, what: string) => {
      const b = content(der, expectTag(f[i], TAG.OCTET_STRING, what));
      if (b.length !== len) malformed(`${what} must be ${len} bytes, found ${b.length}`);
      return Buffer.from(b);
    };
    const name = (i: number, what: string) => {
      const t = expectTag(f[i], TAG.SEQUENCE, what);
      readChildren(der, t); // must be well-formed
      return Buffer.from(raw(der, t));
    };
    const serialBytes = content(der, expectTag(f[6], TAG.INTEGER, 'serialNumber'));
    if (serialBytes.length === 0) malformed('empty serialNumber');
    const nat = expectTag(f[7], TAG.GENERALIZED_TIME, 'notAfter');
    const out: DelegationExtension = {
      version: 1,
      certSha256: digest(1, 32, 'certSha256'),
      spkiSha256: digest(2, 32, 'spkiSha256'),
      certSha1: digest(3, 20, 'certSha1'),
      subject: name(4, 'subject'),
      issuer: name(5, 'issuer'),
      serial: Buffer.from(serialBytes),
      notAfter: decodeTime(nat.tag, content(der, nat)),
    };
    if (f.length === 9) out.certificate = Buffer.from(content(der, expectTag(f[8], 0x80, 'certificate')));
    return out;
  } catch (err) {
    if (err instanceof CountersignError && err.code.startsWith('ERR_DELEGATION')) throw err;
    malformed((err as Error).message, err);
  }
}

/** RFC 4514-style text of a DER Name, e.g. "CN=alice, O=Example". */
export function nameToString(der: Uint8Array): string {
  try {
    return formatDerName(der);
  } catch (err) {
    malformed(`a Name cannot be decoded (${(err as Error).message})`, err);
  }
}
