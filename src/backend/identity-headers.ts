/**
 * Identity headers written by header-mode proxies, decoded to the original
 * client certificate's DER. Only ever read from a trusted proxy (see
 * identifier.ts); here they are just parsed, strictly, because a header that
 * is almost right is more likely an attack or a misconfigured proxy than
 * something to guess at.
 *
 * The decoders are the codecs the proxy encodes with (src/identity-headers/,
 * one module a format); this file is the backend's `header` option: which
 * formats, under which names. The formats are those that carry the client's
 * certificate (`kes`/`nginx`, `rfc9440`, `xfcc`): an identity is a hash of
 * the public key, which `k8s-front-proxy`'s user and groups do not give.
 */
import { CountersignError } from '../errors.js';
import {
  CERTIFICATE_HEADER_FORMATS, IDENTITY_HEADER_CODECS, isHeaderName,
  type CertificateHeaderFormat, type HeaderSource,
} from '../identity-headers/index.js';

export {
  decodeEscapedPemHeader, decodeRfc9440Header, decodeXfccHeader, headerLines, parseXfcc, RFC9440_CHAIN_SUFFIX,
  type HeaderSource, type XfccElement,
} from '../identity-headers/index.js';

export type HeaderFormat = CertificateHeaderFormat;

export interface HeaderSpec {
  format: HeaderFormat;
  /** header name; default per format (DEFAULT_HEADER_NAMES) */
  name?: string;
}

export interface ResolvedHeaderSpec {
  format: HeaderFormat;
  /** lowercase header name */
  name: string;
}

/** The header each format is read from when no name is given, lower case. */
export const DEFAULT_HEADER_NAMES: Readonly<Record<HeaderFormat, string>> = Object.fromEntries(
  CERTIFICATE_HEADER_FORMATS.map((f) => [f, IDENTITY_HEADER_CODECS[f].defaultHeaderName.toLowerCase()]),
) as Record<HeaderFormat, string>;

export const DEFAULT_HEADER_FORMAT: HeaderFormat = 'kes';

const FORMATS: readonly string[] = CERTIFICATE_HEADER_FORMATS;

/** Validates the `header` option; `kes` and `nginx` are the same format under two names. */
export function resolveHeaderSpecs(input: HeaderFormat | HeaderSpec | Array<HeaderFormat | HeaderSpec> | undefined): ResolvedHeaderSpec[] {
  const list = input === undefined ? [DEFAULT_HEADER_FORMAT] : Array.isArray(input) ? input : [input];
  const out: ResolvedHeaderSpec[] = [];
  for (const item of list) {
    const spec: HeaderSpec = typeof item === 'string' ? { format: item } : item;
    if (!spec || !FORMATS.includes(spec.format)) {
      throw new CountersignError('ERR_CONFIG_INVALID', `header: unknown format ${JSON.stringify(spec?.format ?? spec)}; use one of ${FORMATS.join(', ')}`);
    }
    const name = (spec.name ?? DEFAULT_HEADER_NAMES[spec.format]).toLowerCase();
    if (!isHeaderName(name)) throw new CountersignError('ERR_CONFIG_INVALID', `header: "${spec.name}" is not a valid header name`);
    const format = spec.format === 'nginx' ? 'kes' : spec.format;
    const same = out.find((o) => o.name === name);
    if (same && same.format !== format) {
      throw new CountersignError('ERR_CONFIG_INVALID', `header: "${name}" is configured for both ${same.format} and ${format}; give each format its own header name`);
    }
    if (!same) out.push({ format, name });
  }
  return out;
}

export interface ForwardedCertificate {
  der: Buffer;
  /** intermediates: RFC 9440 Client-Cert-Chain, or XFCC Chain= without the leaf, when sent */
  chain: Buffer[];
  spec: ResolvedHeaderSpec;
}

/** Decodes the header `spec` names from `req`; undefined when the header is absent. */
export function readForwardedCertificate(req: HeaderSource, spec: ResolvedHeaderSpec): ForwardedCertificate | undefined {
  const decoded = IDENTITY_HEADER_CODECS[spec.format].decode(req, spec.name);
  return decoded && { der: decoded.der, chain: decoded.chain, spec };
}
