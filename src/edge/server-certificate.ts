/**
 * One server certificate (chain + key) validated for serving: parsable, key matches,
 * not expired, and the names it answers for taken from its subjectAltNames.
 * Every source (files, ACME) goes through here, so the store only ever holds
 * material that has passed the same checks.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { CountersignError } from '../errors.js';
import { der, describeCertificate, assertCurrentlyValid, type CertificateFields, loadKeyMaterial, type KeyMaterial, findExtension, OID } from '../pki/index.js';

const { TAG, content, readChildren, readRoot } = der;

/** The OpenSSL slot a key occupies in a SecureContext: one certificate per slot. */
export type KeySlot = 'rsa' | 'rsa-pss' | 'ec' | 'ed25519' | 'ed448';

export interface ServerCertificate {
  material: KeyMaterial;
  /** DNS names (lowercase, wildcards as `*.example.com`) from the leaf's subjectAltName */
  dnsNames: string[];
  /** IP addresses from the leaf's subjectAltName (canonical text form) */
  ipAddresses: string[];
  keySlot: KeySlot;
  subject: string;
  issuer: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** hex SHA-256 of the leaf DER */
  certSha256: string;
  /** hex SHA-256 over the cert and key bytes as read: equal digests mean nothing changed */
  contentDigest: string;
}

export interface LoadServerCertificateInput {
  certPem: string | Buffer;
  keyPem: string | Buffer;
  /** names the certificate in error messages, e.g. the cert file's path */
  what: string;
  /** reference time for the expiry check; default now */
  now?: number;
}

/** Throws a CountersignError that says what to fix when the pair cannot be served. */
export function loadServerCertificate(input: LoadServerCertificateInput): ServerCertificate {
  const material = loadKeyMaterial({ certPem: input.certPem, keyPem: input.keyPem, what: input.what });
  const info = describeCertificate(material.chain[0]);
  // Not-yet-valid is accepted: freshly issued certificates can be a few seconds ahead
  // of a skewed clock, and refusing them would keep serving the old one even longer.
  const now = input.now ?? Date.now();
  if (now > info.notAfter.getTime()) assertCurrentlyValid(info, now, input.what);
  const { dnsNames, ipAddresses } = subjectAltNames(info.fields);
  return {
    material,
    dnsNames,
    ipAddresses,
    keySlot: keySlotOf(material.key, input.what),
    subject: info.subject,
    issuer: info.issuer,
    serial: info.serial,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    certSha256: info.certSha256,
    contentDigest: digestOf(input.certPem, input.keyPem),
  };
}

export function digestOf(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) { h.update(p); h.update('\0'); }
  return h.digest('hex');
}

function keySlotOf(key: KeyObject, what: string): KeySlot {
  const t = key.asymmetricKeyType;
  if (t === 'rsa' || t === 'rsa-pss' || t === 'ec' || t === 'ed25519' || t === 'ed448') return t;
  throw new CountersignError('ERR_KEY_UNSUPPORTED', `${what}: a ${t ?? 'unknown'} key cannot serve TLS; use an RSA, ECDSA or Ed25519 key`);
}

function subjectAltNames(fields: CertificateFields): { dnsNames: string[]; ipAddresses: string[] } {
  const ext = findExtension(fields, OID.subjectAltName);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  if (!ext) return { dnsNames, ipAddresses };
  const root = readRoot(ext.value, TAG.SEQUENCE);
  for (const gn of readChildren(ext.value, root)) {
    const body = content(ext.value, gn);
    if (gn.tag === 0x82) { // [2] dNSName
      const name = normalizeName(body.toString('latin1'));
      if (name && !dnsNames.includes(name)) dnsNames.push(name);
    } else if (gn.tag === 0x87) { // [7] iPAddress
      const ip = ipText(body);
      if (ip && !ipAddresses.includes(ip)) ipAddresses.push(ip);
    }
  }
  return { dnsNames, ipAddresses };
}

/** Lowercase, no trailing dot: the form SNI lookups compare. */
export function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

function ipText(b: Buffer): string | undefined {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
    const text = groups.join(':');
    // compress the longest zero run the way inet_ntop does, so it matches what users type
    const best = text.match(/(?:^|:)0(?::0)+(?::|$)/g)?.sort((a, b2) => b2.length - a.length)[0];
    const out = best ? text.replace(best, '::') : text;
    return isIP(out) ? out : text;
  }
  return undefined;
}
