/**
 * The vectors' expected results, computed by the TypeScript library. Used by
 * generate.ts to write them and by test/unit/backend-vectors.test.ts to check
 * that the TypeScript library still agrees with the committed file.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { createIdentifier, type IdentifierOptions } from '../../src/backend/identifier.js';
import { decodeDelegationExtension } from '../../src/delegation/extension-codec.js';
import { compilePathPattern } from '../../src/backend/path-match.js';
import { createPolicyEngine, type PolicyEngineOptions } from '../../src/backend/policy.js';
import { isCountersignError } from '../../src/errors.js';
import { REPO_ROOT } from '../helpers/proxy-process.js';

export const VECTORS_FILE = join(REPO_ROOT, 'test/vectors/delegation-vectors.json');

/** What a certificate case expects: the resolved identity, or an error code. */
export type Expected =
  | { error: string }
  | {
    via: 'direct' | 'delegated';
    identity: string; certSha256: string; certSha1: string; subject: string; issuer: string; serial: string; notAfter: string;
    /** a CA vouched for the names (direct: the TLS layer verified; delegated: the extension says so) */
    namesVouched: boolean;
    /** identity (SPKI SHA-256) of the delegation CA that signed it; delegated only */
    proxyIdentity?: string;
    /** the extension embeds the original certificate (delegated only) */
    embedded: boolean;
  };

export interface CertificateCase {
  name: string;
  description: string;
  /** the peer certificate, PEM */
  cert: string;
  /** certificates the peer sent after its own (a per-instance delegation intermediate), PEM; default none */
  chain?: string[];
  /** keys of `cas` pinned as delegation CAs */
  delegationCAs: string[];
  allowDirect: boolean;
  /** extensionOid option; absent = the default */
  extensionOid?: string;
  /** the clock the case is judged at (ISO 8601) */
  now: string;
  expect: Expected;
}

/** The identifier's result in the vectors' shape; `socket` is the single-function stand-in the TS identifier reads. */
export function identifyForVector(c: Pick<CertificateCase, 'cert' | 'chain' | 'delegationCAs' | 'allowDirect' | 'extensionOid' | 'now'>, cas: Record<string, string>): Expected {
  try {
    const opts: IdentifierOptions = {
      delegationCAs: c.delegationCAs.map((k) => cas[k]),
      allowDirect: c.allowDirect,
      now: () => Date.parse(c.now),
      ...(c.extensionOid ? { extensionOid: c.extensionOid } : {}),
    };
    const identifier = createIdentifier(opts);
    const x = new X509Certificate(c.cert);
    // what tls.TLSSocket#getPeerCertificate(true) returns: the leaf, then what the peer sent, linked by issuerCertificate
    const presented = [x, ...(c.chain ?? []).map((p) => new X509Certificate(p))].map((cert) => ({ raw: cert.raw, fingerprint256: cert.fingerprint256, issuerCertificate: undefined as unknown }));
    presented.forEach((p, i) => { p.issuerCertificate = presented[i + 1]; });
    const socket = { getPeerX509Certificate: () => x, getPeerCertificate: () => presented[0], authorized: true } as unknown as Parameters<typeof identifier.identify>[0];
    const r = identifier.identify(socket);
    return {
      via: r.via as 'direct' | 'delegated',
      identity: r.identity, certSha256: r.certSha256, certSha1: r.certSha1, subject: r.subject, issuer: r.issuer,
      namesVouched: r.namesVouched, serial: r.serial, notAfter: r.notAfter.toISOString(),
      ...(r.via === 'delegated' ? { proxyIdentity: r.proxy!.identity } : {}),
      embedded: r.via === 'delegated' && r.certificate !== undefined,
    };
  } catch (err) {
    if (isCountersignError(err)) return { error: err.code };
    throw err;
  }
}

export function decodeForVector(der: Buffer): Record<string, unknown> {
  try {
    const d = decodeDelegationExtension(der);
    return {
      version: d.version,
      certSha256: d.certSha256.toString('hex'), spkiSha256: d.spkiSha256.toString('hex'), certSha1: d.certSha1.toString('hex'),
      subject: d.subject.toString('hex'), issuer: d.issuer.toString('hex'), serial: d.serial.toString('hex'),
      notAfter: d.notAfter.toISOString(),
      namesVouched: d.namesVouched,
      ...(d.certificate ? { certificate: d.certificate.toString('hex') } : {}),
    };
  } catch (err) {
    if (isCountersignError(err)) return { error: err.code };
    throw err;
  }
}

export function matchForVector(pattern: string, path: string): { match: boolean } | { error: string } {
  try {
    return { match: compilePathPattern(pattern)(path) };
  } catch (err) {
    if (isCountersignError(err)) return { error: err.code };
    throw err;
  }
}

export function authorizeForVector(opts: PolicyEngineOptions, identity: string, method: string, path: string): Record<string, unknown> {
  const r = createPolicyEngine(opts).authorize(identity, method, path);
  return r.allowed ? { allowed: true, policy: r.policy } : { allowed: false, reason: r.reason, ...(r.policy ? { policy: r.policy } : {}) };
}

