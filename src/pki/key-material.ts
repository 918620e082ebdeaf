import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { CountersignError } from '../errors.js';
import { certificatesDer } from './pem.js';

/** A certificate chain (leaf first) with its private key, validated to belong together. */
export interface KeyMaterial {
  chain: X509Certificate[];
  key: KeyObject;
  /** PEM of the chain, as TLS contexts want it */
  certPem: string;
  keyPem: string;
}

export interface KeyMaterialInput {
  certPem: string | Buffer;
  keyPem: string | Buffer;
  /** names the files in error messages, e.g. "delegation.ca" */
  what: string;
}

export function loadKeyMaterial({ certPem, keyPem, what }: KeyMaterialInput): KeyMaterial {
  const chain = certificatesDer(certPem, `${what}.cert`).map((der, i) => {
    try { return new X509Certificate(der); } catch (err) {
      throw new CountersignError('ERR_CERT_INVALID', `${what}.cert: certificate #${i + 1} cannot be parsed (${(err as Error).message})`, { cause: err });
    }
  });
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new CountersignError('ERR_KEY_INVALID', `${what}.key: not a readable private key (PEM PKCS#8, PKCS#1 or SEC1 expected; encrypted keys are not supported)`, { cause: err });
  }
  if (!chain[0].checkPrivateKey(key)) {
    throw new CountersignError('ERR_KEY_MISMATCH', `${what}.key: key does not match certificate "${chain[0].subject.replace(/\n/g, ', ')}"`);
  }
  return { chain, key, certPem: certPem.toString(), keyPem: keyPem.toString() };
}

/** Loads a CA's key material and insists its certificate may sign certificates. */
export function loadSigningCa(input: KeyMaterialInput): KeyMaterial {
  const m = loadKeyMaterial(input);
  if (!m.chain[0].ca) {
    throw new CountersignError('ERR_CA_NOT_CA', `${input.what}.cert: "${m.chain[0].subject.replace(/\n/g, ', ')}" is not a CA certificate (basicConstraints CA:TRUE is missing); use a CA certificate`);
  }
  return m;
}

/** Parses a bundle of trust anchors (PEM with one or more certificates). */
export function loadCertificates(pem: string | Buffer, what: string): X509Certificate[] {
  return certificatesDer(pem, what).map((der, i) => {
    try { return new X509Certificate(der); } catch (err) {
      throw new CountersignError('ERR_CERT_INVALID', `${what}: certificate #${i + 1} cannot be parsed (${(err as Error).message})`, { cause: err });
    }
  });
}
