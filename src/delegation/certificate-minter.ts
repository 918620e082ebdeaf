/**
 * Builds and signs one countersigned certificate. The profile (docs/delegation.md):
 * subject and subjectAltName copied verbatim from the original when a client CA
 * vouched for them, else a neutral subject `CN=<identity hex>` and no
 * subjectAltName (a name no CA vouched for never reaches a backend as a name);
 * basicConstraints
 * CA:FALSE and keyUsage digitalSignature, both critical; EKU clientAuth; SKI/AKI;
 * random positive 128-bit serial; notBefore a minute ago; notAfter =
 * min(original notAfter, now + ttl, CA notAfter); the delegation extension,
 * non-critical.
 */
import { randomFillSync } from 'node:crypto';
import { CountersignError } from '../errors.js';
import { der, assertCurrentlyValid, type CertificateInfo, findExtension, OID, toPem } from '../pki/index.js';
import type { CaSigner } from './ca-signer.js';
import { DELEGATION_OID, DELEGATION_VERSION, encodeDelegationExtension } from './extension-codec.js';
import type { PooledKey } from './key-pool.js';

const { TAG, bitString, bool, explicit, octets, oid, seq, smallInt, tlv, tlvLength, writeHeader, x509Time } = der;

export interface MintedCertificate {
  certDer: Buffer;
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
  /** the serial, uppercase hex as OpenSSL prints it (known when minting: no parse of the certificate for the audit log) */
  serial: string;
  /** the original certificate this one vouches for */
  original: CertificateInfo;
}

export interface MintOptions {
  ca: CaSigner;
  key: PooledKey;
  /** lifetime cap in milliseconds */
  ttlMs: number;
  /**
   * A client CA vouched for the original's subject and subjectAltNames (the
   * verifier's verdict). When false the minted certificate carries the neutral
   * subject of `neutralSubject()` and no subjectAltName, and the extension says
   * namesVouched FALSE.
   */
  namesVouched: boolean;
  /** embed the whole original certificate in the extension */
  embedOriginal?: boolean;
  /** extension OID; default DELEGATION_OID */
  extensionOid?: string;
  now?: number;
}

/** Backdating tolerates clock skew between the proxy and its backends. */
export const NOT_BEFORE_SKEW_MS = 60_000;

// basicConstraints, keyUsage and extKeyUsage never change: encoded once, back to back.
const PROFILE_EXTENSIONS = Buffer.concat([
  seq(oid(OID.basicConstraints), bool(true), octets(seq())),
  seq(oid(OID.keyUsage), bool(true), octets(bitString(Buffer.from([0x80]), 7))),
  seq(oid(OID.extKeyUsage), octets(seq(oid(OID.clientAuth)))),
]);
const VERSION_3 = explicit(0, smallInt(2));
const CN_OID = oid('2.5.4.3');

/**
 * The subject of a certificate minted for a client whose names no CA vouched
 * for: `CN=<identity>`, the lowercase hex SHA-256 of its SubjectPublicKeyInfo
 * (64 characters, ub-common-name), as a UTF8String. Derived from the key the
 * client proved it holds, so it names nobody else, and it is the identity
 * `countersign identity of` prints: a backend that maps CN to a user (etcd,
 * Kubernetes, Mosquitto, PostgreSQL) sees a user it can grant by identity, and
 * never a name the client chose. No O/OU: Kubernetes reads O as a group.
 */
export function neutralSubject(identity: string): Buffer {
  return seq(tlv(TAG.SET, seq(CN_OID, tlv(TAG.UTF8_STRING, Buffer.from(identity, 'ascii')))));
}
const oidCache = new Map<string, Buffer>();

// randomFillSync per call costs more than the bytes; draw 16-byte serials from a refilled block.
const randomBlock = Buffer.alloc(4096);
let randomOffset = randomBlock.length;
const SERIAL_LENGTH = tlvLength(16);
function writeSerial(out: Buffer, offset: number): number {
  if (randomOffset === randomBlock.length) { randomFillSync(randomBlock); randomOffset = 0; }
  const p = writeHeader(out, offset, TAG.INTEGER, 16);
  randomBlock.copy(out, p, randomOffset, randomOffset + 16);
  randomOffset += 16;
  out[p] = (out[p] & 0x7f) | 0x40; // positive and exactly 16 bytes: no padding byte
  return p + 16;
}

export function mintCertificate(original: CertificateInfo, opts: MintOptions): MintedCertificate {
  const now = opts.now ?? Date.now();
  assertCurrentlyValid(original, now, 'client certificate');
  const notBefore = new Date(Math.floor((now - NOT_BEFORE_SKEW_MS) / 1000) * 1000);
  const capMs = Math.min(original.notAfter.getTime(), now + opts.ttlMs, opts.ca.notAfter.getTime());
  const notAfter = new Date(Math.floor(capMs / 1000) * 1000);
  if (notAfter.getTime() <= now) {
    throw new CountersignError('ERR_CERT_EXPIRED', `cannot mint for "${original.subject}": it (or the delegation CA) expires within a second`);
  }
  const { ca, key } = opts;
  const f = original.fields;
  const extOid = opts.extensionOid ?? DELEGATION_OID;
  let extOidDer = oidCache.get(extOid);
  if (!extOidDer) { extOidDer = oid(extOid); oidCache.set(extOid, extOidDer); }
  const delegation = encodeDelegationExtension({
    version: DELEGATION_VERSION,
    certSha256: Buffer.from(original.certSha256, 'hex'),
    spkiSha256: Buffer.from(original.identity, 'hex'),
    certSha1: Buffer.from(original.certSha1, 'hex'),
    subject: f.subject,
    issuer: f.issuer,
    serial: f.serial,
    notAfter: f.notAfter,
    namesVouched: opts.namesVouched,
    certificate: opts.embedOriginal ? original.der : undefined,
  });
  const subject = opts.namesVouched ? f.subject : neutralSubject(original.identity);
  const san = opts.namesVouched ? findExtension(f, OID.subjectAltName)?.der : undefined;
  const nb = x509Time(notBefore);
  const na = x509Time(notAfter);

  // Sized first and written into one buffer: nested seq() calls would copy the TBS once per level.
  const delegationExt = extOidDer.length + tlvLength(delegation.length);
  const extensions = PROFILE_EXTENSIONS.length + key.subjectKeyIdExtension.length + ca.authorityKeyIdExtension.length
    + (san?.length ?? 0) + tlvLength(delegationExt);
  const validity = nb.length + na.length;
  const tbsContent = VERSION_3.length + SERIAL_LENGTH + ca.signatureAlgorithm.length + ca.issuerName.length
    + tlvLength(validity) + subject.length + key.spki.length + tlvLength(tlvLength(extensions));
  const tbs = Buffer.allocUnsafe(tlvLength(tbsContent));
  let p = 0;
  const put = (b: Uint8Array) => { tbs.set(b, p); p += b.length; };
  p = writeHeader(tbs, p, TAG.SEQUENCE, tbsContent);
  put(VERSION_3);
  p = writeSerial(tbs, p);
  // 16 bytes, the first in 0x40–0x7f (writeSerial): its hex is what OpenSSL prints, leading zeros stripped or not
  const serial = tbs.toString('hex', p - 16, p).toUpperCase();
  put(ca.signatureAlgorithm);
  put(ca.issuerName);
  p = writeHeader(tbs, p, TAG.SEQUENCE, validity);
  put(nb);
  put(na);
  put(subject);
  put(key.spki);
  p = writeHeader(tbs, p, 0xa3, tlvLength(extensions));
  p = writeHeader(tbs, p, TAG.SEQUENCE, extensions);
  put(PROFILE_EXTENSIONS);
  put(key.subjectKeyIdExtension);
  put(ca.authorityKeyIdExtension);
  if (san) put(san);
  p = writeHeader(tbs, p, TAG.SEQUENCE, delegationExt);
  put(extOidDer);
  p = writeHeader(tbs, p, TAG.OCTET_STRING, delegation.length);
  put(delegation);
  // allocUnsafe: a miscounted length would sign leftover memory
  if (p !== tbs.length) throw new Error(`TBS written to ${p} of ${tbs.length} bytes`);

  const certDer = seq(tbs, ca.signatureAlgorithm, bitString(ca.sign(tbs)));
  return { certDer, certPem: toPem(certDer), keyPem: key.keyPem, notBefore, notAfter, serial, original };
}
