/**
 * The delegation extension: what the minted certificate says about the original
 * client certificate. ASN.1 module in docs/delegation.md:
 *
 *   CountersignDelegation ::= SEQUENCE {
 *     version           INTEGER { v1(1), v2(2) },
 *     certSha256        OCTET STRING (SIZE (32)),
 *     spkiSha256        OCTET STRING (SIZE (32)),
 *     certSha1          OCTET STRING (SIZE (20)),
 *     subject           Name,
 *     issuer            Name,
 *     serialNumber      CertificateSerialNumber,
 *     notAfter          GeneralizedTime,
 *     namesVouched      BOOLEAN OPTIONAL,          -- present in v2, absent in v1
 *     certificate   [0] IMPLICIT OCTET STRING OPTIONAL }
 *
 * v2 (written since the names rule of clientAuth mode any) adds namesVouched:
 * whether a client CA the proxy trusts vouched for the original's subject and
 * subjectAltNames. A v1 extension cannot say, so it is read as not vouched.
 */
import { CountersignError } from '../errors.js';
import { der, formatDerName } from '../pki/index.js';

const { TAG, bool, content, decodeTime, expectTag, generalizedTime, implicitPrimitive, octets, raw, readChildren, readRoot, seq, smallInt, tlv } = der;

/**
 * UUID-derived OID in Microsoft's arc for GUID-based OIDs (1.2.840.113556.1.8000.2554,
 * each arc a slice of the UUID ce1dde02-8f51-49bc-8b0f-5c5afd11040f): no registration
 * needed, and every arc is below 2^31 so Go's crypto/x509 (KES, etcd, Kubernetes) can
 * parse it. The X.667 form 2.25.<uuid> cannot be parsed by Go at all.
 */
export const DELEGATION_OID = '1.2.840.113556.1.8000.2554.52765.56834.36689.18876.35599.6052605.1115151.1';
/** The version the proxy writes; decoders read this one and 1. */
export const DELEGATION_VERSION = 2;

export interface DelegationExtension {
  /** 2 (written now); 1 from proxies before namesVouched, read as namesVouched: false */
  version: 1 | 2;
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
  /**
   * A client CA configured on the proxy vouched for `subject` and the
   * original's subjectAltNames (always in clientAuth modes require and
   * optional; in mode any only for a client that chains to edge.clientAuth.ca).
   * When false the names are what the client wrote: authorize by the identity,
   * never by a name. Written in v2; false for v1.
   */
  namesVouched: boolean;
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
  if (ext.version === 2) parts.push(bool(ext.namesVouched));
  else if (ext.namesVouched) throw new RangeError('delegation extension: version 1 cannot say the names were vouched');
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
    if (v.length !== 1 || (v[0] !== 1 && v[0] !== 2)) {
      throw new CountersignError('ERR_DELEGATION_EXTENSION_VERSION',
        `delegation extension: version ${v.length <= 6 ? v.readIntBE(0, v.length) : '(huge)'} is not supported (this library reads versions 1 and ${DELEGATION_VERSION}); upgrade countersign/backend`);
    }
    const version = v[0] as 1 | 2;
    // v1: 8 fields, 9 with the certificate; v2: namesVouched after notAfter, so 9 or 10
    const fixed = version === 1 ? 8 : 9;
    if (f.length !== fixed && f.length !== fixed + 1) malformed(`version ${version} has ${fixed} or ${fixed + 1} fields, found ${f.length}`);
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
    let namesVouched = false;
    if (version === 2) {
      const b = content(der, expectTag(f[8], TAG.BOOLEAN, 'namesVouched'));
      // DER: one byte, FF for TRUE
      if (b.length !== 1 || (b[0] !== 0x00 && b[0] !== 0xff)) malformed('namesVouched is not a DER BOOLEAN (one byte, 00 or FF)');
      namesVouched = b[0] === 0xff;
    }
    const out: DelegationExtension = {
      version,
      certSha256: digest(1, 32, 'certSha256'),
      spkiSha256: digest(2, 32, 'spkiSha256'),
      certSha1: digest(3, 20, 'certSha1'),
      subject: name(4, 'subject'),
      issuer: name(5, 'issuer'),
      serial: Buffer.from(serialBytes),
      notAfter: decodeTime(nat.tag, content(der, nat)),
      namesVouched,
    };
    if (f.length === fixed + 1) out.certificate = Buffer.from(content(der, expectTag(f[fixed], 0x80, 'certificate')));
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
