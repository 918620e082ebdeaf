/** CRLs signed by a test CA, as PEM text or written to a file. */
import 'reflect-metadata';
import { KeyObject, randomBytes, sign, webcrypto } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import * as x509 from '@peculiar/x509';
import { der, parseCertificateFields, toPem } from '../../src/pki/index.js';
import { type IssuedCertificate } from '../../src/pki/dev/index.js';

export interface CrlOptions {
  /** default: a minute ago */
  thisUpdate?: Date;
  /** default: in a day */
  nextUpdate?: Date;
  /** default: a minute ago */
  revocationDate?: Date;
}

/** A CRL signed by `ca` (an ECDSA test CA) that revokes `revoked`, as PEM ("BEGIN X509 CRL", as OpenSSL writes it). */
export async function crlPem(ca: IssuedCertificate, revoked: IssuedCertificate[] = [], o: CrlOptions = {}): Promise<string> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.cert.subject.split('\n').join(', '),
    thisUpdate: o.thisUpdate ?? new Date(Date.now() - 60_000),
    nextUpdate: o.nextUpdate ?? new Date(Date.now() + 86400_000),
    entries: revoked.map((c) => ({ serialNumber: c.cert.serialNumber, revocationDate: o.revocationDate ?? new Date(Date.now() - 60_000) })),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams,
    signingKey: ca.signingKey,
  });
  return toPem(Buffer.from(crl.rawData), 'X509 CRL'); // @peculiar/x509 would write "BEGIN CRL"
}

/** The same CRL written to <dir>/<name>; returns the path. */
export async function writeCrl(dir: string, name: string, ca: IssuedCertificate, revoked: IssuedCertificate[], o: CrlOptions = {}): Promise<string> {
  const file = `${dir}/${name}`;
  await writeFile(file, await crlPem(ca, revoked, o));
  return file;
}

/**
 * A large CRL, built straight from DER (the generator above takes minutes for
 * 100,000 entries): `count` random serials plus the serials of `revoked`,
 * signed by `ca` (ECDSA P-256 or P-384 test CA). As PEM, like crlPem.
 */
export function bigCrlPem(ca: IssuedCertificate, count: number, revoked: IssuedCertificate[] = [], o: CrlOptions = {}): string {
  const d = der;
  const revocationDate = d.x509Time(o.revocationDate ?? new Date(Date.now() - 60_000));
  const entries: Buffer[] = [];
  for (let i = 0; i < count; i++) entries.push(d.seq(d.uint(randomBytes(16)), revocationDate));
  for (const c of revoked) entries.push(d.seq(d.uint(Buffer.from(c.cert.serialNumber, 'hex')), revocationDate));
  const p384 = ca.keyAlgorithm === 'ec-p384';
  const algorithm = d.seq(d.oid(p384 ? '1.2.840.10045.4.3.3' : '1.2.840.10045.4.3.2'));
  const tbs = d.seq(
    d.smallInt(1), algorithm, parseCertificateFields(ca.cert.raw).subject,
    d.x509Time(o.thisUpdate ?? new Date(Date.now() - 60_000)), d.x509Time(o.nextUpdate ?? new Date(Date.now() + 86400_000)),
    d.seq(Buffer.concat(entries)), // one part: a spread of 100,000 arguments overflows the stack
  );
  const signature = sign(p384 ? 'sha384' : 'sha256', tbs, KeyObject.from(ca.signingKey));
  return toPem(d.seq(tbs, algorithm, d.bitString(signature)), 'X509 CRL');
}
