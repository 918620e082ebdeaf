/**
 * Identity headers, the proxy's side: the encoders come from the codecs
 * (src/identity-headers/, one module a format, shared with countersign/backend;
 * docs/identity-headers.md), and here is how every client-supplied copy of
 * such a header is removed first.
 *
 * Cost: encoding is per connection (the forwarder computes it once and keeps it
 * with the socket); stripping is per request and is one Set lookup per header
 * name, deleting only when a spoofed header is actually there.
 */
import { assertHeaderName } from '../identity-headers/index.js';

/**
 * Kubernetes request-header authentication reads X-Remote-User, -Group,
 * -Extra-* and (since 1.32) -Uid, and a deployment may configure other
 * names under the prefix: every `X-Remote-*` header from a client is removed.
 */
export const X_REMOTE_PREFIX = 'x-remote-';

export {
  DEFAULT_IDENTITY_HEADER, encodeIdentityHeaders, identityHeaderEncoder, k8sFrontProxyHeaders, K8S_EXTRA_PREFIX, K8S_GROUP_HEADER,
  type IdentityHeaderFormat, type IdentityHeaderOptions, type IdentityHeaders, type PeerCertificateForHeaders,
} from '../identity-headers/index.js';

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
  // Kubernetes API server request-header authentication (front proxy); every X-Remote-* by prefix
  'x-remote-user', 'x-remote-group', 'x-remote-uid',
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

/**
 * A set of normalized names whose `has()` normalizes its argument too, so a
 * caller that tests `names.has(key)` on raw header keys gets the `_`/case folding
 * without having to remember it.
 */
class HeaderNameSet extends Set<string> {
  override has(name: string): boolean {
    const n = normalizeHeaderName(name);
    return super.has(n) || n.startsWith(X_REMOTE_PREFIX);
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
    if (names.has(normalizes ? key : normalizeHeaderName(key)) || (!normalizes && normalizeHeaderName(key).startsWith(X_REMOTE_PREFIX))) {
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
    if (names.has(normalizes ? rawHeaders[i] : normalizeHeaderName(rawHeaders[i])) || (!normalizes && normalizeHeaderName(rawHeaders[i]).startsWith(X_REMOTE_PREFIX))) {
      kept ??= rawHeaders.slice(0, i);
      removed.push(rawHeaders[i]);
    } else if (kept) {
      kept.push(rawHeaders[i], rawHeaders[i + 1]);
    }
  }
  return { kept: kept ?? rawHeaders, removed };
}
