/**
 * Identity headers: how a header-mode route tells the backend who the client is,
 * and how every client-supplied copy of such a header is removed first.
 *
 * Formats (docs/identity-headers.md):
 * - `kes` / `nginx`: `X-Tls-Client-Cert` = nginx's `$ssl_client_escaped_cert`,
 *   the leaf PEM URL-escaped byte for byte as nginx escapes it (what KES's
 *   `tls.proxy.header.cert` and Keycloak's nginx provider read);
 * - `rfc9440`: `Client-Cert: :<base64 DER>:` and, when the client sent
 *   intermediates, `Client-Cert-Chain: :<b64>:, :<b64>:` (RFC 9440);
 * - `xfcc`: Envoy's `X-Forwarded-Client-Cert` (see xfcc-header.ts);
 * - `k8s-front-proxy`: the Kubernetes API server's request-header
 *   authentication: `X-Remote-User` = the subject's CN, one `X-Remote-Group`
 *   per O, as Go's pkix.Name reads them (the last CN; every O in encoding
 *   order), presented with the route's proxyCert as the front-proxy client
 *   certificate. Values are sent as their UTF-8 bytes.
 *
 * Cost: encoding is per connection (the forwarder computes it once and keeps it
 * with the socket); stripping is per request and is one Set lookup per header
 * name, deleting only when a spoofed header is actually there.
 */
import { CountersignError } from '../errors.js';
import { nameAttributes, parseCertificateFields, toPem } from '../pki/index.js';
import { escapeUriComponentLikeNginx } from './nginx-uri-escape.js';
import { assertValidXfccBy, encodeXfcc } from './xfcc-header.js';

export type IdentityHeaderFormat = 'kes' | 'nginx' | 'rfc9440' | 'xfcc' | 'k8s-front-proxy';

/** Identity headers to add to a request: a header repeated once per value when it is a list. */
export type IdentityHeaders = Record<string, string | string[]>;

/** The header each format writes when no `headerName` is configured. */
export const DEFAULT_IDENTITY_HEADER: Readonly<Record<IdentityHeaderFormat, string>> = {
  kes: 'X-Tls-Client-Cert',
  nginx: 'X-Tls-Client-Cert',
  rfc9440: 'Client-Cert',
  xfcc: 'X-Forwarded-Client-Cert',
  'k8s-front-proxy': 'X-Remote-User',
};

/** the Kubernetes front-proxy group header (`--requestheader-group-headers`) */
export const K8S_GROUP_HEADER = 'X-Remote-Group';
/** every header starting with this is a user "extra" for the API server (`--requestheader-extra-headers-prefix`) */
export const K8S_EXTRA_PREFIX = 'x-remote-extra-';

/**
 * Every header a backend somewhere reads as "the proxy verified this client".
 * A client must never be able to set one: whatever format a route sends, all
 * of these are removed from client requests. Lower case, `-` separated.
 */
export const IDENTITY_HEADER_NAMES: readonly string[] = [
  // nginx $ssl_client_escaped_cert / KES tls.proxy.header.cert and the usual spellings
  'x-tls-client-cert', 'x-ssl-cert', 'x-ssl-client-cert', 'ssl-client-cert', 'x-client-cert',
  'x-client-certificate', 'x-ssl-client-cert-chain', 'ssl-client-cert-chain',
  // RFC 9440
  'client-cert', 'client-cert-chain',
  // Envoy
  'x-forwarded-client-cert',
  // Traefik passTLSClientCert
  'x-forwarded-tls-client-cert', 'x-forwarded-tls-client-cert-info',
  // IIS ARR / Azure App Service
  'x-arr-clientcert',
  // AWS ALB mTLS passthrough / verify
  'x-amzn-mtls-clientcert', 'x-amzn-mtls-clientcert-leaf', 'x-amzn-mtls-clientcert-serial-number',
  'x-amzn-mtls-clientcert-issuer', 'x-amzn-mtls-clientcert-subject', 'x-amzn-mtls-clientcert-validity',
  // Google Cloud load balancer mTLS custom headers (the documented names)
  'x-client-cert-present', 'x-client-cert-chain-verified', 'x-client-cert-error', 'x-client-cert-hash',
  'x-client-cert-serial-number', 'x-client-cert-spiffe', 'x-client-cert-uri-sans', 'x-client-cert-dnsname-sans',
  'x-client-cert-valid-not-before', 'x-client-cert-valid-not-after',
  // verification results and DNs (HAProxy / nginx / Apache conventions)
  'x-ssl-client-verify', 'x-ssl-client-dn', 'x-ssl-client-s-dn', 'x-ssl-client-i-dn', 'x-ssl-client-serial',
  'x-ssl-client-fingerprint', 'x-ssl-client-sha1', 'x-client-verify', 'x-client-dn', 'x-ssl-subject', 'x-ssl-issuer',
  'ssl-client-verify', 'ssl-client-s-dn', 'ssl-client-i-dn',
  // Kubernetes API server request-header authentication (front proxy); X-Remote-Extra-* by prefix
  'x-remote-user', 'x-remote-group',
];

/**
 * Header names compared the way the most permissive backend reads them: case
 * folded, and `_` taken as `-`, because CGI/WSGI/PHP-FPM/Rack map both
 * `X-Tls-Client-Cert` and `X_Tls_Client_Cert` to HTTP_X_TLS_CLIENT_CERT.
 */
export function normalizeHeaderName(name: string): string {
  // Node already lower-cases incoming names: return those untouched, no allocation
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c === 0x5f) return name.toLowerCase().replaceAll('_', '-');
  }
  return name;
}

/** RFC 9110 token: what a configured header name must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function assertHeaderName(name: string): void {
  if (!TOKEN.test(name)) {
    throw new CountersignError('ERR_IDENTITY_HEADER_OPTIONS', `headerName ${JSON.stringify(name)} is not a valid HTTP header name; use letters, digits and "-", e.g. X-Tls-Client-Cert`);
  }
}

/**
 * A set of normalized names whose `has()` normalizes its argument too, so a
 * caller that tests `names.has(key)` on raw header keys gets the `_`/case folding
 * without having to remember it.
 */
class HeaderNameSet extends Set<string> {
  override has(name: string): boolean {
    const n = normalizeHeaderName(name);
    return super.has(n) || n.startsWith(K8S_EXTRA_PREFIX);
  }
}

/**
 * Lower-case names of every identity header family a client might spoof, plus
 * `extra` (a route's configured headerName). Build it once (per route or per
 * forwarder). `has()` accepts any case and `_` for `-`.
 */
export function identityHeaderNames(extra: string[] = []): ReadonlySet<string> {
  const names = new HeaderNameSet(IDENTITY_HEADER_NAMES);
  for (const name of extra) {
    assertHeaderName(name);
    names.add(normalizeHeaderName(name));
  }
  return names;
}

/**
 * Removes every identity header (any case, `_` or `-`, repeated or joined) from a
 * Node incoming-headers-like object in place; returns the keys removed, for the log.
 */
export function stripIdentityHeaders(headers: Record<string, string | string[] | undefined>, names: ReadonlySet<string>): string[] {
  const removed: string[] = [];
  // a HeaderNameSet normalizes in has(); a plain Set of lower-case names needs it done here
  const normalizes = names instanceof HeaderNameSet;
  for (const key of Object.keys(headers)) {
    if (names.has(normalizes ? key : normalizeHeaderName(key)) || (!normalizes && normalizeHeaderName(key).startsWith(K8S_EXTRA_PREFIX))) {
      delete headers[key];
      removed.push(key);
    }
  }
  return removed;
}

/**
 * The same for Node's `rawHeaders` ([name, value, name, value, …], repeats kept):
 * returns the pairs to forward (the input array itself when nothing matched).
 */
export function stripIdentityRawHeaders(rawHeaders: readonly string[], names: ReadonlySet<string>): { kept: readonly string[]; removed: string[] } {
  let kept: string[] | undefined;
  const removed: string[] = [];
  const normalizes = names instanceof HeaderNameSet;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (names.has(normalizes ? rawHeaders[i] : normalizeHeaderName(rawHeaders[i])) || (!normalizes && normalizeHeaderName(rawHeaders[i]).startsWith(K8S_EXTRA_PREFIX))) {
      kept ??= rawHeaders.slice(0, i);
      removed.push(rawHeaders[i]);
    } else if (kept) {
      kept.push(rawHeaders[i], rawHeaders[i + 1]);
    }
  }
  return { kept: kept ?? rawHeaders, removed };
}

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

/** Base64 DER as an RFC 8941 Byte Sequence. */
const sfBinary = (b: Uint8Array) => `:${Buffer.from(b).toString('base64')}:`;

/**
 * An encoder for one route: options are checked here, once, so the per-connection
 * call does no validation. Returns the header(s) to add for one client certificate.
 */
export function identityHeaderEncoder(format: Exclude<IdentityHeaderFormat, 'k8s-front-proxy'>, opts?: IdentityHeaderOptions): (peer: PeerCertificateForHeaders) => Record<string, string>;
export function identityHeaderEncoder(format: IdentityHeaderFormat, opts?: IdentityHeaderOptions): (peer: PeerCertificateForHeaders) => IdentityHeaders;
export function identityHeaderEncoder(format: IdentityHeaderFormat, opts: IdentityHeaderOptions = {}): (peer: PeerCertificateForHeaders) => IdentityHeaders {
  const name = opts.headerName ?? DEFAULT_IDENTITY_HEADER[format];
  assertHeaderName(name);
  if (opts.by !== undefined) {
    if (format !== 'xfcc') throw new CountersignError('ERR_IDENTITY_HEADER_OPTIONS', `"by" applies only to header: xfcc, not ${format}`);
    assertValidXfccBy(opts.by);
  }
  switch (format) {
    case 'kes':
    case 'nginx':
      return (peer) => ({ [name]: escapeUriComponentLikeNginx(toPem(peer.der)) });
    case 'rfc9440': {
      const chainName = `${name}-Chain`;
      return (peer) => {
        const out: Record<string, string> = { [name]: sfBinary(peer.der) };
        if (peer.chain && peer.chain.length > 0) out[chainName] = peer.chain.map(sfBinary).join(', ');
        return out;
      };
    }
    case 'xfcc':
      return (peer) => ({ [name]: encodeXfcc(peer.der, peer.chain, { by: opts.by }) });
    case 'k8s-front-proxy':
      if (opts.headerName !== undefined) throw new CountersignError('ERR_IDENTITY_HEADER_OPTIONS', 'headerName does not apply to header: k8s-front-proxy (the API server reads X-Remote-User and X-Remote-Group; --requestheader-username-headers names them)');
      return (peer) => k8sFrontProxyHeaders(peer.der);
    default:
      throw new CountersignError('ERR_IDENTITY_HEADER_OPTIONS', `unknown identity header format ${JSON.stringify(format)}; use kes, nginx, rfc9440, xfcc or k8s-front-proxy`);
  }
}

/** The header(s) to add for one client certificate (one-off form of identityHeaderEncoder). */
export function encodeIdentityHeaders(format: Exclude<IdentityHeaderFormat, 'k8s-front-proxy'>, peer: PeerCertificateForHeaders, opts?: IdentityHeaderOptions): Record<string, string>;
export function encodeIdentityHeaders(format: IdentityHeaderFormat, peer: PeerCertificateForHeaders, opts?: IdentityHeaderOptions): IdentityHeaders;
export function encodeIdentityHeaders(format: IdentityHeaderFormat, peer: PeerCertificateForHeaders, opts?: IdentityHeaderOptions): IdentityHeaders {
  return identityHeaderEncoder(format, opts)(peer);
}

const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';

/** A header value as its UTF-8 bytes (Node writes header strings as latin1); control characters are refused. */
function headerValue(v: string, what: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(v)) throw new CountersignError('ERR_IDENTITY_HEADER_VALUE', `the client certificate's ${what} ${JSON.stringify(v)} holds a control character and cannot be sent in a header`);
  return Buffer.from(v, 'utf8').toString('latin1');
}

/** X-Remote-User from the subject's CN (the last one, as Go reads it), one X-Remote-Group per O. */
export function k8sFrontProxyHeaders(der: Buffer): IdentityHeaders {
  const attrs = nameAttributes(parseCertificateFields(der).subject);
  const cn = attrs.filter((a) => a.oid === OID_CN).at(-1)?.value;
  if (!cn) throw new CountersignError('ERR_IDENTITY_HEADER_VALUE', 'the client certificate has no CN: the Kubernetes API server needs one as the user name (X-Remote-User)');
  const groups = attrs.filter((a) => a.oid === OID_O).map((a) => headerValue(a.value, 'O'));
  return { [DEFAULT_IDENTITY_HEADER['k8s-front-proxy']]: headerValue(cn, 'CN'), ...(groups.length ? { [K8S_GROUP_HEADER]: groups } : {}) };
}
