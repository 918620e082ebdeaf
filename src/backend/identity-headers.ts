/**
 * Identity headers written by header-mode proxies, decoded to the original
 * client certificate's DER. Only ever read from a trusted proxy (see
 * identifier.ts); here they are just parsed, strictly, because a header that
 * is almost right is more likely an attack or a misconfigured proxy than
 * something to guess at.
 *
 *  - `kes` / `nginx`: `X-Tls-Client-Cert: <URL-escaped PEM>`, what nginx's
 *    `$ssl_client_escaped_cert` produces and KES reads.
 *  - `rfc9440`: `Client-Cert: :<base64 DER>:` (an RFC 8941 Byte Sequence), with
 *    an optional `Client-Cert-Chain` list (`<name>-Chain` when renamed).
 *  - `xfcc`: Envoy's `X-Forwarded-Client-Cert`, `By=…;Hash=…;Cert="<URL-escaped PEM>";…`,
 *    comma-separated elements; the LAST element is used (see decodeXfcc).
 */
import { CountersignError } from '../errors.js';
import { sha256, pemBlocks } from '../pki/index.js';

export type HeaderFormat = 'kes' | 'nginx' | 'rfc9440' | 'xfcc';

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

export const DEFAULT_HEADER_NAMES: Readonly<Record<HeaderFormat, string>> = {
  kes: 'x-tls-client-cert',
  nginx: 'x-tls-client-cert',
  rfc9440: 'client-cert',
  xfcc: 'x-forwarded-client-cert',
};

/** RFC 9440's companion field is the certificate header's name + "-Chain" (`Client-Cert-Chain`). */
export const RFC9440_CHAIN_SUFFIX = '-chain';

export const DEFAULT_HEADER_FORMAT: HeaderFormat = 'kes';

const FORMATS = Object.keys(DEFAULT_HEADER_NAMES) as HeaderFormat[];
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

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
    if (!TOKEN.test(name)) throw new CountersignError('ERR_CONFIG_INVALID', `header: "${spec.name}" is not a valid header name`);
    const format = spec.format === 'nginx' ? 'kes' : spec.format;
    const same = out.find((o) => o.name === name);
    if (same && same.format !== format) {
      throw new CountersignError('ERR_CONFIG_INVALID', `header: "${name}" is configured for both ${same.format} and ${format}; give each format its own header name`);
    }
    if (!same) out.push({ format, name });
  }
  return out;
}

/** Header values the way Node received them; `headersDistinct` keeps repeated lines apart. */
export interface HeaderSource {
  headers: Record<string, string | string[] | undefined>;
  headersDistinct?: Record<string, string[] | undefined>;
}

/** Every line of a header, or undefined when absent. */
export function headerLines(req: HeaderSource, name: string): string[] | undefined {
  const distinct = req.headersDistinct?.[name];
  if (distinct) return distinct;
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v : [v];
}

function malformed(header: string, message: string, cause?: unknown): never {
  throw new CountersignError('ERR_HEADER_MALFORMED', `identity header ${header}: ${message}`, cause ? { cause } : undefined);
}

function unescape(header: string, value: string): string {
  try {
    // decodeURIComponent, not form decoding: a literal "+" is base64, never a space
    return decodeURIComponent(value);
  } catch (err) {
    malformed(header, 'bad percent-encoding; expected URL-escaped PEM (nginx $ssl_client_escaped_cert)', err);
  }
}

function certificatesFromEscapedPem(header: string, value: string): Buffer[] {
  const text = unescape(header, value);
  let blocks;
  try {
    blocks = pemBlocks(text).filter((b) => b.label === 'CERTIFICATE');
  } catch (err) {
    malformed(header, (err as Error).message, err);
  }
  if (blocks.length === 0) malformed(header, 'no "-----BEGIN CERTIFICATE-----" block after URL-unescaping; expected URL-escaped PEM (nginx $ssl_client_escaped_cert)');
  return blocks.map((b) => b.der);
}

/** `kes` / `nginx`: exactly one URL-escaped PEM certificate. */
export function decodeEscapedPemHeader(value: string, header = DEFAULT_HEADER_NAMES.kes): Buffer {
  const certs = certificatesFromEscapedPem(header, value.trim());
  if (certs.length !== 1) malformed(header, `${certs.length} certificates present; expected exactly one (the client's)`);
  return certs[0];
}

// RFC 8941 Byte Sequence: ":" base64 ":" with optional parameters (";key" or ";key=value"), which are ignored.
const BYTE_SEQUENCE = /^:([A-Za-z0-9+/]*={0,2}):((?:;[a-z*][a-z0-9_\-.*]*(?:=[^;,]*)?)*)$/;

function byteSequence(header: string, item: string): Buffer {
  const m = BYTE_SEQUENCE.exec(item.trim());
  if (!m) malformed(header, 'expected an RFC 8941 byte sequence ":<base64 DER>:"');
  const b64 = m[1];
  if (b64.length === 0) malformed(header, 'empty byte sequence');
  // unpadded base64 is accepted (RFC 8941 4.2.7 asks parsers to be lenient about padding), bad lengths are not
  if (b64.replace(/=+$/, '').length % 4 === 1 || (b64.includes('=') && b64.length % 4 !== 0)) malformed(header, 'base64 of impossible length');
  return Buffer.from(b64, 'base64');
}

/** `rfc9440`: `Client-Cert` (one byte sequence) and the optional `Client-Cert-Chain` list. */
export function decodeRfc9440Header(certLines: string[], chainLines?: string[], header = DEFAULT_HEADER_NAMES.rfc9440): { der: Buffer; chain: Buffer[] } {
  const chainHeader = header + RFC9440_CHAIN_SUFFIX;
  if (certLines.length !== 1) malformed(header, `appears ${certLines.length} times; expected once`);
  const der = byteSequence(header, certLines[0]);
  const chain: Buffer[] = [];
  if (chainLines) {
    // a List may be split over several lines; they concatenate with commas (RFC 8941 4.2)
    for (const item of chainLines.join(',').split(',')) {
      if (item.trim() === '') malformed(chainHeader, 'empty list member');
      chain.push(byteSequence(chainHeader, item));
    }
  }
  return { der, chain };
}

/** One XFCC element: its key/value pairs in order, keys lowercased (keys are case-insensitive). */
export type XfccElement = Array<[key: string, value: string]>;

/**
 * Envoy's grammar: elements separated by ",", pairs by ";", key and value by
 * "="; a value containing , ; = or " is double-quoted with \" for a quote.
 */
export function parseXfcc(value: string, header = DEFAULT_HEADER_NAMES.xfcc): XfccElement[] {
  const s = value;
  const elements: XfccElement[] = [];
  let element: XfccElement = [];
  let i = 0;
  const skipSpace = () => { while (s[i] === ' ' || s[i] === '\t') i++; };
  for (;;) {
    skipSpace();
    const keyStart = i;
    while (i < s.length && s[i] !== '=' && s[i] !== ';' && s[i] !== ',') i++;
    const key = s.slice(keyStart, i).trim().toLowerCase();
    if (s[i] !== '=' || key === '') malformed(header, `expected key=value at offset ${keyStart}`);
    i++;
    skipSpace();
    let v = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) malformed(header, 'unterminated quoted value');
        const c = s[i++];
        if (c === '"') break;
        if (c === '\\') {
          if (i >= s.length) malformed(header, 'unterminated quoted value');
          v += s[i++];
        } else v += c;
      }
      skipSpace();
      if (i < s.length && s[i] !== ';' && s[i] !== ',') malformed(header, `unexpected "${s[i]}" after a quoted value at offset ${i}`);
    } else {
      const start = i;
      while (i < s.length && s[i] !== ';' && s[i] !== ',') i++;
      v = s.slice(start, i).trim();
      if (v.includes('"')) malformed(header, `a value with a double quote must be quoted (offset ${start})`);
    }
    element.push([key, v]);
    if (i >= s.length) { elements.push(element); return elements; }
    if (s[i] === ',') { elements.push(element); element = []; }
    i++;
  }
}

const xfccValue = (e: XfccElement, key: string): string | undefined => e.find(([k]) => k === key)?.[1];

/**
 * `xfcc`: the certificate of the LAST element. Envoy appends the element for
 * the client it is talking to at the end (APPEND_FORWARD) or replaces the
 * header with that one element (SANITIZE_SET); earlier elements were only
 * passed along from hops further out, which the trusted proxy did not verify
 * and a client may have written itself. The element must carry `Cert` (the
 * identity is a hash of the public key, which `Hash` and `Subject` do not give);
 * when `Hash` is present it must be the SHA-256 of that certificate.
 */
export function decodeXfccHeader(lines: string[], header = DEFAULT_HEADER_NAMES.xfcc): { der: Buffer; chain: Buffer[]; element: XfccElement } {
  const elements = parseXfcc(lines.join(','), header);
  const element = elements[elements.length - 1];
  const cert = xfccValue(element, 'cert');
  if (cert === undefined || cert === '') {
    malformed(header, 'the last element has no Cert=; configure the proxy to forward the certificate (Envoy: set_current_client_cert_details { cert: true })');
  }
  const certs = certificatesFromEscapedPem(header, cert);
  if (certs.length !== 1) malformed(header, `Cert= holds ${certs.length} certificates; expected exactly one`);
  const der = certs[0];
  const hash = xfccValue(element, 'hash');
  if (hash !== undefined && hash.toLowerCase() !== sha256(der).toString('hex')) {
    malformed(header, 'Hash= is not the SHA-256 of Cert=; the element is inconsistent');
  }
  const chainValue = xfccValue(element, 'chain');
  const chain = chainValue ? certificatesFromEscapedPem(header, chainValue) : [];
  return { der, chain, element };
}

export interface ForwardedCertificate {
  der: Buffer;
  /** RFC 9440 Client-Cert-Chain or XFCC Chain=, when sent */
  chain: Buffer[];
  spec: ResolvedHeaderSpec;
}

/** Decodes the header `spec` names from `req`; undefined when the header is absent. */
export function readForwardedCertificate(req: HeaderSource, spec: ResolvedHeaderSpec): ForwardedCertificate | undefined {
  const lines = headerLines(req, spec.name);
  if (lines === undefined) return undefined;
  switch (spec.format) {
    case 'kes':
    case 'nginx':
      if (lines.length !== 1) malformed(spec.name, `appears ${lines.length} times; expected once`);
      return { der: decodeEscapedPemHeader(lines[0], spec.name), chain: [], spec };
    case 'rfc9440': {
      const { der, chain } = decodeRfc9440Header(lines, headerLines(req, spec.name + RFC9440_CHAIN_SUFFIX), spec.name);
      return { der, chain, spec };
    }
    case 'xfcc': {
      const { der, chain } = decodeXfccHeader(lines, spec.name);
      return { der, chain, spec };
    }
  }
}
