/**
 * Challenges the ACME server may be validating right now. The manager adds one
 * before telling the server to validate and removes it when the challenge is
 * settled; the http-01 listener and the tls-alpn-01 responder only read.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import { normalizeName } from '../server-certificate.js';

/**
 * One change of the registry, as the primary sends it to worker processes
 * (a tls-alpn-01 challenge travels as PEM: a SecureContext cannot be sent).
 */
export type ChallengeChange =
  | { op: 'set-http'; token: string; keyAuthorization: string }
  | { op: 'delete-http'; token: string }
  | { op: 'set-tls-alpn'; domain: string; certPem: string; keyPem: string }
  | { op: 'delete-tls-alpn'; domain: string };

export class ChallengeRegistry {
  private readonly http = new Map<string, string>();
  private readonly tlsAlpn = new Map<string, SecureContext>();
  private httpFallback: ((token: string) => Promise<string | undefined>) | undefined;

  setHttp(token: string, keyAuthorization: string): void { this.http.set(token, keyAuthorization); }
  deleteHttp(token: string): void { this.http.delete(token); }
  /** the key authorization to answer `/.well-known/acme-challenge/<token>` with */
  httpKeyAuthorization(token: string): string | undefined { return this.http.get(token); }
  /** where an http-01 token unknown here is looked up (a fleet's shared storage: another instance may be ordering) */
  setHttpFallback(lookup: (token: string) => Promise<string | undefined>): void { this.httpFallback = lookup; }
  /** this registry, then the fallback */
  async lookupHttp(token: string): Promise<string | undefined> {
    return this.http.get(token) ?? (await this.httpFallback?.(token));
  }

  setTlsAlpn(domain: string, context: SecureContext): void { this.tlsAlpn.set(normalizeName(domain), context); }
  deleteTlsAlpn(domain: string): void { this.tlsAlpn.delete(normalizeName(domain)); }
  /** the context holding the RFC 8737 challenge certificate for `domain` */
  tlsAlpnContext(domain: string): SecureContext | undefined { return this.tlsAlpn.get(normalizeName(domain)); }

  get pending(): number { return this.http.size + this.tlsAlpn.size; }

  /** applies a change received from the process that runs the ACME manager */
  apply(c: ChallengeChange): void {
    if (c.op === 'set-http') this.setHttp(c.token, c.keyAuthorization);
    else if (c.op === 'delete-http') this.deleteHttp(c.token);
    else if (c.op === 'set-tls-alpn') this.setTlsAlpn(c.domain, createSecureContext({ cert: c.certPem, key: c.keyPem }));
    else this.deleteTlsAlpn(c.domain);
  }
}
