/**
 * Many distinct client certificates, fast: a P-256 key each (generated on the
 * libuv thread pool) and a TBSCertificate built from DER parts, signed with the
 * client CA's key by node:crypto. Each one is a never-seen identity for the
 * first-time-identity points (every new connection needs a mint). About
 * 0.5 ms a certificate on 2 cores, so thousands take a second or two.
 */
import { createHash, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { bitString, bool, explicit, implicitPrimitive, octets, oid, seq, smallInt, tlv, uint, x509Time, TAG } from '../../src/pki/der.js';
import { parseCertificateFields, findExtension, OID } from '../../src/pki/x509-fields.js';
import { content, readRoot } from '../../src/pki/der.js';
import { toPem } from '../../src/pki/pem.js';

export interface ClientCert { certPem: string; keyPem: string }

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const CN = oid('2.5.4.3');
const O = oid('2.5.4.10');

function name(cn: string): Buffer {
  const attr = (type: Buffer, value: string) => tlv(TAG.SET, seq(type, tlv(TAG.UTF8_STRING, Buffer.from(value))));
  return seq(attr(O, 'countersign bench'), attr(CN, cn));
}

function keyPair(): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return new Promise((resolve, reject) => generateKeyPair('ec', { namedCurve: 'P-256' }, (err, publicKey, privateKey) => (err ? reject(err) : resolve({ publicKey, privateKey }))));
}

/** `count` client certificates issued by `ca` (its certificate DER and private key). */
export async function generateClientCerts(ca: { certDer: Buffer; key: KeyObject }, count: number, prefix = 'bench-client'): Promise<ClientCert[]> {
  const caFields = parseCertificateFields(ca.certDer);
  const ski = findExtension(caFields, OID.subjectKeyIdentifier);
  const keyId = ski ? content(ski.value, readRoot(ski.value)) : createHash('sha1').update(caFields.publicKeyBits).digest();
  const exts = (pub: Buffer) => explicit(3, seq(
    seq(oid(OID.basicConstraints), bool(true), octets(seq())),
    seq(oid(OID.keyUsage), bool(true), octets(bitString(Buffer.from([0x80]), 7))),
    seq(oid(OID.extKeyUsage), octets(seq(oid(OID.clientAuth)))),
    seq(oid(OID.subjectKeyIdentifier), octets(octets(createHash('sha1').update(pub).digest()))),
    seq(oid(OID.authorityKeyIdentifier), octets(seq(implicitPrimitive(0, keyId)))),
  ));
  const validity = seq(x509Time(new Date(Date.now() - 3600_000)), x509Time(new Date(Date.now() + 7 * 86400_000)));
  const out: ClientCert[] = [];
  const batch = 64;
  for (let i = 0; i < count; i += batch) {
    const keys = await Promise.all(Array.from({ length: Math.min(batch, count - i) }, keyPair));
    keys.forEach(({ publicKey, privateKey }, j) => {
      const spki = publicKey.export({ type: 'spki', format: 'der' });
      const serial = randomBytes(16);
      serial[0] = (serial[0] & 0x7f) | 0x40;
      const tbs = seq(
        explicit(0, smallInt(2)), uint(serial), ECDSA_SHA256, caFields.subject, validity,
        name(`${prefix}-${String(i + j).padStart(5, '0')}`), spki, exts(spki.subarray(spki.length - 65)),
      );
      const der = seq(tbs, ECDSA_SHA256, bitString(sign('sha256', tbs, ca.key)));
      out.push({ certPem: toPem(der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string });
    });
  }
  return out;
}
