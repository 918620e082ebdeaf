/** CRLs signed by a test CA, as PEM text or written to a file. */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import * as x509 from '@peculiar/x509';
import { toPem } from '../../src/pki/index.js';
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
