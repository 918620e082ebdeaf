/**
 * identity-headers/: the front door. One codec per identity-header format,
 * each with encode (the proxy's header-mode routes, src/forward/) and decode
 * (countersign/backend), so the formats are listed once: here. The config
 * schema's `routes[].header` enum is IDENTITY_HEADER_FORMATS; the backend
 * accepts the formats that carry a certificate.
 *
 * A lower layer: imports only pki/ (node: built-ins only) and errors, so the
 * backend library may import it (test/unit/backend-dependencies.test.ts).
 * Golden vectors: test/vectors/identity-header-vectors.json (npm run vectors).
 */
import { CountersignError } from '../errors.js';
import type { DecodedCertificate, DecodedUser, IdentityHeaderCodec, IdentityHeaderOptions, IdentityHeaders, PeerCertificateForHeaders } from './codec.js';
import { escapedPemCodec } from './escaped-pem.js';
import { k8sFrontProxyCodec } from './k8s-front-proxy.js';
import { rfc9440Codec } from './rfc9440.js';
import { xfccCodec } from './xfcc.js';

export {
  assertHeaderName, headerLines, isHeaderName,
  type DecodedCertificate, type DecodedUser, type HeaderSource, type IdentityHeaderCodec, type IdentityHeaderOptions,
  type IdentityHeaders, type PeerCertificateForHeaders,
} from './codec.js';
export { decodeEscapedPemHeader, encodeEscapedPem } from './escaped-pem.js';
export { decodeRfc9440Header, RFC9440_CHAIN_SUFFIX } from './rfc9440.js';
export { assertValidXfccBy, decodeXfccHeader, encodeXfcc, parseXfcc, type XfccElement } from './xfcc.js';
export { k8sFrontProxyHeaders, K8S_EXTRA_PREFIX, K8S_GROUP_HEADER, K8S_USER_HEADER } from './k8s-front-proxy.js';
export { escapeUriComponentLikeNginx, nginxEscapesByte } from './nginx-uri-escape.js';
export { formatNameRfc2253 } from './openssl-rfc2253-name.js';

/** Every format name `routes[].header` takes, in the order the docs list them. */
export const IDENTITY_HEADER_FORMATS = ['kes', 'nginx', 'rfc9440', 'xfcc', 'k8s-front-proxy'] as const;
export type IdentityHeaderFormat = (typeof IDENTITY_HEADER_FORMATS)[number];

/** The formats whose header carries the client's certificate (what countersign/backend decodes). */
export const CERTIFICATE_HEADER_FORMATS = ['kes', 'nginx', 'rfc9440', 'xfcc'] as const satisfies readonly IdentityHeaderFormat[];
export type CertificateHeaderFormat = (typeof CERTIFICATE_HEADER_FORMATS)[number];

/** One codec a format name; `kes` and `nginx` are one format under two names. */
export const IDENTITY_HEADER_CODECS: {
  readonly [F in IdentityHeaderFormat]: IdentityHeaderCodec<F extends CertificateHeaderFormat ? DecodedCertificate : DecodedUser>
} = {
  kes: escapedPemCodec('kes'),
  nginx: escapedPemCodec('nginx'),
  rfc9440: rfc9440Codec,
  xfcc: xfccCodec,
  'k8s-front-proxy': k8sFrontProxyCodec,
};

/** The header each format writes when no `headerName` is configured. */
export const DEFAULT_IDENTITY_HEADER: Readonly<Record<IdentityHeaderFormat, string>> = Object.fromEntries(
  IDENTITY_HEADER_FORMATS.map((f) => [f, IDENTITY_HEADER_CODECS[f].defaultHeaderName]),
) as Record<IdentityHeaderFormat, string>;

/** The codec of a format name, or a typed error naming the valid ones. */
export function identityHeaderCodec<F extends IdentityHeaderFormat>(format: F): (typeof IDENTITY_HEADER_CODECS)[F] {
  if (!Object.hasOwn(IDENTITY_HEADER_CODECS, format)) {
    throw new CountersignError('ERR_IDENTITY_HEADER_OPTIONS', `unknown identity header format ${JSON.stringify(format)}; use ${IDENTITY_HEADER_FORMATS.join(', ')}`);
  }
  return IDENTITY_HEADER_CODECS[format];
}

/**
 * An encoder for one route: options are checked here, once, so the per-connection
 * call does no validation. Returns the header(s) to add for one client certificate.
 */
export function identityHeaderEncoder(format: Exclude<IdentityHeaderFormat, 'k8s-front-proxy'>, opts?: IdentityHeaderOptions): (peer: PeerCertificateForHeaders) => Record<string, string>;
export function identityHeaderEncoder(format: IdentityHeaderFormat, opts?: IdentityHeaderOptions): (peer: PeerCertificateForHeaders) => IdentityHeaders;
export function identityHeaderEncoder(format: IdentityHeaderFormat, opts: IdentityHeaderOptions = {}): (peer: PeerCertificateForHeaders) => IdentityHeaders {
  return identityHeaderCodec(format).encoder(opts);
}

/** The header(s) to add for one client certificate (one-off form of identityHeaderEncoder). */
export function encodeIdentityHeaders(format: Exclude<IdentityHeaderFormat, 'k8s-front-proxy'>, peer: PeerCertificateForHeaders, opts?: IdentityHeaderOptions): Record<string, string>;
export function encodeIdentityHeaders(format: IdentityHeaderFormat, peer: PeerCertificateForHeaders, opts?: IdentityHeaderOptions): IdentityHeaders;
export function encodeIdentityHeaders(format: IdentityHeaderFormat, peer: PeerCertificateForHeaders, opts?: IdentityHeaderOptions): IdentityHeaders {
  return identityHeaderEncoder(format, opts)(peer);
}
