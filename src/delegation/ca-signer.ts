/**
 * The delegation CA as a signer: the parts of every minted certificate that only
 * depend on the CA (issuer name, algorithm, authority key id) are encoded once.
 * Signing uses node:crypto natively; pure-JS RSA is ~300x slower.
 */
import { sign, type KeyObject } from 'node:crypto';
import { CountersignError } from '../errors.js';
import { content, implicitPrimitive, nullValue, octets, oid, readRoot, seq } from '../pki/der.js';
import { parseCertificateFields, findExtension, OID } from '../pki/x509-fields.js';
import { sha1 } from '../pki/certificate-info.js';
import type { KeyMaterial } from '../pki/key-material.js';

export interface CaSigner {
  /** DER Name of the CA's subject: the minted certificates' issuer */
  issuerName: Buffer;
  /** DER AlgorithmIdentifier of the signature */
  signatureAlgorithm: Buffer;
  /** DER of the authorityKeyIdentifier extension */
  authorityKeyIdExtension: Buffer;
  /** CA certificate PEM, for chains */
  certPem: string;
  /**
   * What a minted certificate is sent with: the CA's certificate and those
   * after it in the CA file, up to (not including) a self-signed root. Empty
   * for a self-signed delegation CA; the intermediate for a per-instance
   * intermediate under a shared root, so a backend that trusts only the root
   * can build the chain.
   */
  chainPem: string;
  /** the CA's notAfter: a minted certificate never outlives it */
  notAfter: Date;
  sign(tbs: Buffer): Buffer;
}

export function createCaSigner(ca: KeyMaterial): CaSigner {
  const caCert = ca.chain[0];
  const fields = parseCertificateFields(caCert.raw);
  const key: KeyObject = ca.key;
  let signatureAlgorithm: Buffer;
  let digest: string | null;
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') { digest = 'sha256'; signatureAlgorithm = seq(oid('1.2.840.10045.4.3.2')); }
      else if (curve === 'secp384r1') { digest = 'sha384'; signatureAlgorithm = seq(oid('1.2.840.10045.4.3.3')); }
      else if (curve === 'secp521r1') { digest = 'sha512'; signatureAlgorithm = seq(oid('1.2.840.10045.4.3.4')); }
      else throw new CountersignError('ERR_KEY_UNSUPPORTED', `delegation CA key uses curve ${curve}; use P-256, P-384 or P-521`);
      break;
    }
    case 'rsa':
      digest = 'sha256';
      signatureAlgorithm = seq(oid('1.2.840.113549.1.1.11'), nullValue());
      break;
    case 'ed25519':
      digest = null;
      signatureAlgorithm = seq(oid('1.3.101.112'));
      break;
    default:
      throw new CountersignError('ERR_KEY_UNSUPPORTED', `delegation CA key type ${key.asymmetricKeyType} is not supported; use ECDSA, RSA or Ed25519`);
  }
  // AKI keyIdentifier = the CA's own SKI when it has one (what chain builders match), else SHA-1 of its key.
  const ski = findExtension(fields, OID.subjectKeyIdentifier);
  let keyId: Buffer;
  if (ski) {
    const t = readRoot(ski.value);
    keyId = Buffer.from(content(ski.value, t));
  } else {
    keyId = sha1(fields.publicKeyBits);
  }
  const authorityKeyIdExtension = seq(oid(OID.authorityKeyIdentifier), octets(seq(implicitPrimitive(0, keyId))));
  return {
    issuerName: fields.subject,
    signatureAlgorithm,
    authorityKeyIdExtension,
    certPem: caCert.toString(),
    chainPem: ca.chain.filter((c) => !(c.checkIssued(c) && c.verify(c.publicKey))).map((c) => c.toString()).join(''),
    notAfter: fields.notAfter,
    sign: (tbs) => sign(digest, tbs, key),
  };
}
