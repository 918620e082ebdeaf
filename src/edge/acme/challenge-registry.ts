/**
 * Challenges the ACME server may be validating right now. The manager adds one
 * before telling the server to validate and removes it when the challenge is
 * settled; the http-01 listener and the tls-alpn-01 responder only read.
 */
import type { SecureContext } from 'node:tls';
import { normalizeName } from '../server-certificate.js';

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
}
