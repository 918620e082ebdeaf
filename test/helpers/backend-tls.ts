/**
 * Real TLS on loopback for the backend library's tests: a PKI with a
 * delegation CA, a client CA, a "forger" CA the TLS server also trusts, and a
 * server certificate; a minter; and an https client that presents any
 * certificate and returns status and JSON body.
 */
import { request } from 'node:https';
import { DelegationMinter } from '../../src/delegation/delegation-minter.js';
import { DEFAULT_DELEGATION_LIMITS } from '../../src/config/index.js';
import { DELEGATION_OID, encodeDelegationExtension } from '../../src/delegation/extension-codec.js';
import { describeCertificate } from '../../src/pki/certificate-info.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/issue-certificate.js';
import { delegationTestPki, type DelegationTestPki } from './delegation-pki.js';

export interface BackendTestPki extends DelegationTestPki {
  /** a CA the TLS server trusts that is NOT a delegation CA */
  forgerCa: IssuedCertificate;
  /** a header-mode proxy's client certificate (issued by the client CA) */
  proxy: IssuedCertificate;
  minter: DelegationMinter;
  /** alice minted by the delegation CA */
  mintedAlice: { certPem: string; keyPem: string };
  /** the TLS server's `ca`: every CA above */
  serverTrust: string[];
}

/** A certificate that claims to be delegated for `victim`, issued by `issuer`. */
export async function forgedDelegation(victim: IssuedCertificate, issuer: IssuedCertificate): Promise<IssuedCertificate> {
  const v = describeCertificate(victim.cert.raw);
  const value = encodeDelegationExtension({
    version: 2,
    namesVouched: true,
    certSha256: Buffer.from(v.certSha256, 'hex'),
    spkiSha256: Buffer.from(v.identity, 'hex'),
    certSha1: Buffer.from(v.certSha1, 'hex'),
    subject: v.fields.subject,
    issuer: v.fields.issuer,
    serial: v.fields.serial,
    notAfter: v.notAfter,
  });
  return issueCertificate({ subject: v.subject, issuer, extraExtensions: [{ oid: DELEGATION_OID, critical: false, value }] });
}

export async function backendTestPki(opts: { embedOriginal?: boolean } = {}): Promise<BackendTestPki> {
  const base = await delegationTestPki();
  const forgerCa = await issueCertificate({ subject: 'CN=some other CA the server trusts', ca: true });
  const proxy = await issueCertificate({ subject: 'CN=header proxy', issuer: base.clientCa });
  const minter = new DelegationMinter({ ...DEFAULT_DELEGATION_LIMITS, ca: base.delegationMaterial, keyPoolSize: 2, embedOriginal: opts.embedOriginal });
  const creds = minter.credentialsFor(describeCertificate(base.alice.cert.raw), { namesVouched: true });
  return {
    ...base, forgerCa, proxy, minter,
    mintedAlice: { certPem: creds.certPem, keyPem: creds.keyPem },
    serverTrust: [base.delegationCa.certPem, base.clientCa.certPem, forgerCa.certPem],
  };
}

export { listen, closeServer as close } from './net.js';

export interface ClientOptions {
  port: number;
  /** trust for the server certificate */
  ca: string;
  cert?: string;
  key?: string;
  path?: string;
  method?: string;
  headers?: Record<string, string | string[]>;
}

export interface JsonResponse { status: number; body: any; headers: Record<string, unknown> }

export function get(opts: ClientOptions): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port: opts.port, servername: 'localhost', path: opts.path ?? '/', method: opts.method ?? 'GET',
      ca: opts.ca, cert: opts.cert, key: opts.key, headers: opts.headers, agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try { body = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
