/**
 * Verifies a signature made by a CA over DER bytes (a CRL's tbsCertList, an
 * OCSP response's tbsResponseData) with the CA's public key, for the
 * signature algorithms CAs use: ECDSA, RSA PKCS#1 v1.5, RSA-PSS, Ed25519 and
 * Ed448. The AlgorithmIdentifier (and RSA-PSS parameters) are decoded with
 * @peculiar/asn1-x509 / asn1-rsa; the check itself is node:crypto (native).
 *
 * Those libraries (with asn1js, ~5 MiB of a process's memory once loaded) are
 * required on the first check, not imported: a proxy without CRLs or OCSP
 * never checks a signature, and this module is in the start-up graph through
 * the CRL files' parser (docs/performance.md, "Peak RSS with one identity").
 */
import { constants, verify, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Asn1Schema from '@peculiar/asn1-schema';
import type * as Asn1X509 from '@peculiar/asn1-x509';
import type * as Asn1Rsa from '@peculiar/asn1-rsa';

interface Asn1 { schema: typeof Asn1Schema; x509: typeof Asn1X509; rsa: typeof Asn1Rsa }
let asn1: Asn1 | undefined;
/** The ASN.1 libraries, loaded once on first use (they are CommonJS packages: the same instances an import would give). */
function asn1Libraries(): Asn1 {
  if (!asn1) {
    const require = createRequire(import.meta.url);
    asn1 = { schema: require('@peculiar/asn1-schema') as typeof Asn1Schema, x509: require('@peculiar/asn1-x509') as typeof Asn1X509, rsa: require('@peculiar/asn1-rsa') as typeof Asn1Rsa };
  }
  return asn1;
}

const HASH_BY_OID: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1', '2.16.840.1.101.3.4.2.1': 'sha256', '2.16.840.1.101.3.4.2.2': 'sha384', '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** signature algorithm OID → the digest node:crypto.verify takes (null: the algorithm hashes itself) and the padding */
const ALGORITHMS: Record<string, { hash: string | null; pss?: boolean }> = {
  '1.2.840.10045.4.1': { hash: 'sha1' }, // ecdsa-with-SHA1
  '1.2.840.10045.4.3.2': { hash: 'sha256' },
  '1.2.840.10045.4.3.3': { hash: 'sha384' },
  '1.2.840.10045.4.3.4': { hash: 'sha512' },
  '1.2.840.113549.1.1.5': { hash: 'sha1' }, // sha1WithRSAEncryption
  '1.2.840.113549.1.1.11': { hash: 'sha256' },
  '1.2.840.113549.1.1.12': { hash: 'sha384' },
  '1.2.840.113549.1.1.13': { hash: 'sha512' },
  '1.2.840.113549.1.1.10': { hash: 'sha256', pss: true }, // RSASSA-PSS: parameters say which hash
  '1.3.101.112': { hash: null }, // Ed25519
  '1.3.101.113': { hash: null }, // Ed448
};

/**
 * True when `signature` over `signed` verifies with `key` under the
 * algorithm `algorithmDer` (a DER AlgorithmIdentifier); false for a wrong
 * signature or an algorithm this does not know.
 */
export function verifySignedBy(key: KeyObject, algorithmDer: Uint8Array, signed: Uint8Array, signature: Uint8Array): boolean {
  const { schema: { AsnConvert }, x509: { AlgorithmIdentifier }, rsa: { RsaSaPssParams } } = asn1Libraries();
  let alg: Asn1X509.AlgorithmIdentifier;
  try { alg = AsnConvert.parse(algorithmDer, AlgorithmIdentifier); } catch { return false; }
  const known = ALGORITHMS[alg.algorithm];
  if (!known) return false;
  try {
    if (known.pss) {
      const params = alg.parameters ? AsnConvert.parse(alg.parameters, RsaSaPssParams) : new RsaSaPssParams();
      const hash = HASH_BY_OID[params.hashAlgorithm.algorithm];
      if (!hash) return false;
      return verify(hash, signed, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength }, signature);
    }
    return verify(known.hash, signed, key, signature);
  } catch {
    return false;
  }
}
