/**
 * What every identity-header codec is: one format, encoded by the proxy
 * (forward/) and decoded by a backend (countersign/backend), in one module so
 * the two sides cannot drift. Golden vectors in
 * test/vectors/identity-header-vectors.json pin both directions.
 */
import { CountersignError } from '../errors.js';

/** Identity headers to add to a request: a header repeated once per value when it is a list. */
export type IdentityHeaders = Record<string, string | string[]>;

export interface PeerCertificateForHeaders {
  /** the client's leaf certificate, DER */
  der: Buffer;
  /** the rest of the client's chain, leaf excluded, leaf's issuer first (intermediates; the trust anchor may be included, RFC 9440 allows either) */
  chain?: Buffer[];
}

export interface IdentityHeaderOptions {
  /** header to write instead of the format's default (rfc9440: the chain goes in `<headerName>-Chain`) */
  headerName?: string;
  /** xfcc only: the By= value (the proxy's own URI); omitted by default */
  by?: string;
}

/** Header values the way Node received them (names lower case); `headersDistinct` keeps repeated lines apart. */
export interface HeaderSource {
  headers: Record<string, string | string[] | undefined>;
  headersDistinct?: Record<string, string[] | undefined>;
}

/** What a certificate-carrying format decodes to. */
export interface DecodedCertificate {
  /** the client's leaf certificate, DER */
  der: Buffer;
  /** intermediates sent with it (RFC 9440 Client-Cert-Chain, XFCC Chain= without the leaf); empty when none */
  chain: Buffer[];
}

/** What the Kubernetes front-proxy format decodes to: the user and groups the API server would read. */
export interface DecodedUser {
  user: string;
  groups: string[];
}

export interface IdentityHeaderCodec<Decoded> {
  /** the header written when no `headerName` is configured, in its usual spelling */
  readonly defaultHeaderName: string;
  /** true when decode() returns the client's certificate (what countersign/backend needs for an identity) */
  readonly carriesCertificate: boolean;
  /** true when the encoder writes the client's intermediates (`peer.chain`), so the proxy must collect them */
  readonly sendsChain: boolean;
  /**
   * true when the header states names taken from the certificate (a user, a
   * subject, SANs) that a backend reads as they are, rather than the
   * certificate itself: such a format must never carry names no CA vouched
   * for (clientAuth mode any), so `check` refuses it there.
   */
  readonly sendsNames: boolean;
  /**
   * An encoder with `opts` checked here, once (ERR_IDENTITY_HEADER_OPTIONS), so
   * the per-connection call does no validation. Returns the header(s) to add
   * for one client certificate (ERR_IDENTITY_HEADER_VALUE when it cannot be sent).
   */
  encoder(opts?: IdentityHeaderOptions): (peer: PeerCertificateForHeaders) => IdentityHeaders;
  /**
   * Decodes the header `name` (lower case; the format's default when absent)
   * from a request; undefined when the header is absent, ERR_HEADER_MALFORMED
   * when it is there but not exactly the format.
   */
  decode(req: HeaderSource, name?: string): Decoded | undefined;
}

/** RFC 9110 token: what a header name must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function isHeaderName(name: string): boolean {
  return TOKEN.test(name);
}

/** Encoder side: a configured header name must be a token. */
export function assertHeaderName(name: string): void {
  if (!isHeaderName(name)) {
    throw new CountersignError('ERR_IDENTITY_HEADER_OPTIONS', `headerName ${JSON.stringify(name)} is not a valid HTTP header name; use letters, digits and "-", e.g. X-Tls-Client-Cert`);
  }
}

/** Refuses options a format does not take (checked once, when a route is set up). */
export function refuseBy(format: string, opts: IdentityHeaderOptions): void {
  if (opts.by !== undefined) throw new CountersignError('ERR_IDENTITY_HEADER_OPTIONS', `"by" applies only to header: xfcc, not ${format}`);
}

/** Every line of a header, or undefined when absent. */
export function headerLines(req: HeaderSource, name: string): string[] | undefined {
  const distinct = req.headersDistinct?.[name];
  if (distinct) return distinct;
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v : [v];
}

/** Decoder side: the header is there but is not the format. */
export function malformed(header: string, message: string, cause?: unknown): never {
  throw new CountersignError('ERR_HEADER_MALFORMED', `identity header ${header}: ${message}`, cause ? { cause } : undefined);
}
