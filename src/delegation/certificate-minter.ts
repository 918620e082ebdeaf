/**
 * Builds and signs one countersigned certificate. The profile (docs/delegation.md):
 * subject and subjectAltName copied verbatim from the original; basicConstraints
 * CA:FALSE and keyUsage digitalSignature, both critical; EKU clientAuth; SKI/AKI;
 * random positive 128-bit serial; notBefore a minute ago; notAfter =
 * min(original notAfter, now + ttl, CA notAfter); the delegation extension,
 * non-critical.
 */
import { randomFillSync } from 'node:crypto';
import { CountersignError } from '../errors.js';
import { bitString, bool, explicit, octets, oid, seq, smallInt, uint, x509Time } from '../pki/der.js';
import { assertCurrentlyValid, sha1, type CertificateInfo } from '../pki/certificate-info.js';
import { findExtension, OID } from '../pki/x509-fields.js';
import { toPem } from '../pki/pem.js';
import type { CaSigner } from './ca-signer.js';
import { DELEGATION_OID, encodeDelegationExtension } from './extension-codec.js';
import type { PooledKey } from './key-pool.js';

export interface MintedCertificate {
  certDer: Buffer;
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
  /** the original certificate this one vouches for */
  original: CertificateInfo;
}

export interface MintOptions {
  ca: CaSigner;
  key: PooledKey;
  /** lifetime cap in milliseconds */
  ttlMs: number;
  /** embed the whole original certificate in the extension */
  embedOriginal?: boolean;
  /** extension OID; default DELEGATION_OID */
  extensionOid?: string;
  now?: number;
}

/** Backdating tolerates clock skew between the proxy and its backends. */
export const NOT_BEFORE_SKEW_MS = 60_000;

// Constant extensions, encoded once.
const BASIC_CONSTRAINTS = seq(oid(OID.basicConstraints), bool(true), octets(seq()));
const KEY_USAGE = seq(oid(OID.keyUsage), bool(true), octets(bitString(Buffer.from([0x80]), 7)));
const EXT_KEY_USAGE = seq(oid(OID.extKeyUsage), octets(seq(oid(OID.clientAuth))));
const VERSION_3 = explicit(0, smallInt(2));
const SKI_OID = oid(OID.subjectKeyIdentifier);
const oidCache = new Map<string, Buffer>();

// randomFillSync per call costs more than the bytes; draw 16-byte serials from a refilled block.
const randomBlock = Buffer.alloc(4096);
let randomOffset = randomBlock.length;
function randomSerial(): Buffer {
  if (randomOffset === randomBlock.length) { randomFillSync(randomBlock); randomOffset = 0; }
  const s = Buffer.from(randomBlock.subarray(randomOffset, randomOffset + 16));
  randomOffset += 16;
  return s;
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
  const f = original.fields;
  const extOid = opts.extensionOid ?? DELEGATION_OID;
  let extOidDer = oidCache.get(extOid);
  if (!extOidDer) { extOidDer = oid(extOid); oidCache.set(extOid, extOidDer); }
  const delegation = encodeDelegationExtension({
    version: 1,
    certSha256: Buffer.from(original.certSha256, 'hex'),
    spkiSha256: Buffer.from(original.identity, 'hex'),
    certSha1: Buffer.from(original.certSha1, 'hex'),
    subject: f.subject,
    issuer: f.issuer,
    serial: f.serial,
    notAfter: f.notAfter,
    certificate: opts.embedOriginal ? original.der : undefined,
  });
  const serial = randomSerial();
  serial[0] &= 0x7f;
  serial[0] |= 0x40; // positive and exactly 16 bytes
  const exts = [
    BASIC_CONSTRAINTS,
    KEY_USAGE,
    EXT_KEY_USAGE,
    seq(SKI_OID, octets(octets(sha1(opts.key.publicKeyBits)))),
    opts.ca.authorityKeyIdExtension,
  ];
  const san = findExtension(f, OID.subjectAltName);
  if (san) exts.push(san.der);
  exts.push(seq(extOidDer, octets(delegation)));
  const tbs = seq(
    VERSION_3,
    uint(serial),
    opts.ca.signatureAlgorithm,
    opts.ca.issuerName,
    seq(x509Time(notBefore), x509Time(notAfter)),
    f.subject,
    opts.key.spki,
    explicit(3, seq(...exts)),
  );
  const signature = opts.ca.sign(tbs);
  const certDer = seq(tbs, opts.ca.signatureAlgorithm, bitString(signature));
  return { certDer, certPem: toPem(certDer), keyPem: opts.key.keyPem, notBefore, notAfter, original };
}


