/**
 * Envoy's `X-Forwarded-Client-Cert` element for one client certificate, in the
 * order Envoy's ConnectionManagerUtility::mutateXfccRequestHeader writes it with
 * `forward_client_cert_details: SANITIZE_SET` and
 * `set_current_client_cert_details: { cert, chain, subject, uri, dns }`:
 *
 *   By=<uri>;Hash=<hex sha256 of DER>;Cert="<escaped PEM>";Chain="<escaped PEMs>";
 *   Subject="<RFC 2253>";URI=<uri>;…;DNS=<name>;…
 *
 * - By= only when configured (Envoy: its own certificate's URI SAN);
 * - Chain= only when the client sent intermediates; like Envoy's it is the whole
 *   chain, leaf first, each PEM escaped and concatenated;
 * - Subject= is always present, quoted, even when empty;
 * - one URI= per URI SAN, or a bare "URI=" when there is none (as Envoy);
 * - one DNS= per DNS SAN, none when there is none.
 *
 * One deliberate difference: Envoy writes By/URI/DNS unquoted even when they
 * contain `, ; = "` (its own TODO), which lets a client whose certificate carries
 * a URI SAN like `x,By=…;Hash=…` forge extra XFCC elements. Here such a value is
 * quoted (with `"` and `\` backslash-escaped, as Envoy's XFCC grammar allows), and
 * bytes outside printable ASCII are percent-encoded so the header stays valid.
 *
 * Decoding (decodeXfccHeader) takes the LAST element and its Cert=, checked
 * against its Hash=; see there.
 */
import { hash } from 'node:crypto';
import { CountersignError } from '../errors.js';
import { der, findExtension, OID, parseCertificateFields, sha256, toPem, type CertificateFields } from '../pki/index.js';
import { assertHeaderName, headerLines, malformed, type DecodedCertificate, type HeaderSource, type IdentityHeaderCodec } from './codec.js';
import { certificatesFromEscapedPem } from './escaped-pem.js';
import { escapeUriComponentLikeNginx } from './nginx-uri-escape.js';
import { formatNameRfc2253 } from './openssl-rfc2253-name.js';

const DEFAULT_NAME = 'X-Forwarded-Client-Cert';

const { TAG, content, readChildren, readRoot } = der;

const GENERAL_NAME_DNS = 0x82; // [2] IMPLICIT IA5String
const GENERAL_NAME_URI = 0x86; // [6] IMPLICIT IA5String

/** DNS and URI subjectAltNames, in certificate order, as their raw (Latin-1) text. */
export function dnsAndUriSans(fields: CertificateFields): { dns: string[]; uri: string[] } {
  const san = findExtension(fields, OID.subjectAltName);
  const dns: string[] = [];
  const uri: string[] = [];
  if (!san) return { dns, uri };
  for (const name of readChildren(san.value, readRoot(san.value, TAG.SEQUENCE))) {
    if (name.tag === GENERAL_NAME_DNS) dns.push(content(san.value, name).toString('latin1'));
    else if (name.tag === GENERAL_NAME_URI) uri.push(content(san.value, name).toString('latin1'));
  }
  return { dns, uri };
}

/** Bytes outside visible ASCII would make an invalid or ambiguous header value. */
function percentEncodeUnprintable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[^\x21-\x7e]/g, (c) => {
    const code = c.charCodeAt(0);
    return code === 0x20 ? '%20' : '%' + code.toString(16).toUpperCase().padStart(2, '0');
  });
}

/** A By/URI/DNS value: bare when it is a plain token, quoted when it holds XFCC delimiters. */
export function xfccValue(raw: string): string {
  const v = percentEncodeUnprintable(raw);
  return /[,;="\\]/.test(v) ? `"${v.replace(/["\\]/g, '\\$&')}"` : v;
}

export interface XfccOptions {
  /** By= value, e.g. the proxy's own SPIFFE URI; omitted when absent */
  by?: string;
}

/** Checked once when a route is set up, not per request. */
export function assertValidXfccBy(by: string): void {
  // eslint-disable-next-line no-control-regex
  if (by.length === 0 || /[\x00-\x1f\x7f]/.test(by)) {
    throw new CountersignError('ERR_IDENTITY_HEADER_OPTIONS', `xfcc "by" value ${JSON.stringify(by)} is empty or has control characters; give the proxy's URI, e.g. spiffe://example.org/countersign`);
  }
}

/** The XFCC value for one client (leaf `certDer`, intermediates `chain`, leaf excluded). */
export function encodeXfcc(certDer: Buffer, chain: readonly Buffer[] | undefined, opts: XfccOptions = {}): string {
  const fields = parseCertificateFields(certDer);
  const { dns, uri } = dnsAndUriSans(fields);
  const parts: string[] = [];
  if (opts.by !== undefined) parts.push(`By=${xfccValue(opts.by)}`);
  parts.push(`Hash=${hash('sha256', certDer, 'hex')}`);
  parts.push(`Cert="${escapeUriComponentLikeNginx(toPem(certDer))}"`);
  if (chain && chain.length > 0) {
    parts.push(`Chain="${[certDer, ...chain].map((c) => escapeUriComponentLikeNginx(toPem(c))).join('')}"`);
  }
  parts.push(`Subject="${formatNameRfc2253(fields.subject)}"`);
  if (uri.length === 0) parts.push('URI=');
  for (const u of uri) parts.push(`URI=${xfccValue(u)}`);
  for (const d of dns) parts.push(`DNS=${xfccValue(d)}`);
  return parts.join(';');
}

/** One XFCC element: its key/value pairs in order, keys lowercased (keys are case-insensitive). */
export type XfccElement = Array<[key: string, value: string]>;

/**
 * Envoy's grammar: elements separated by ",", pairs by ";", key and value by
 * "="; a value containing , ; = or " is double-quoted with \" for a quote.
 */
export function parseXfcc(value: string, header = DEFAULT_NAME.toLowerCase()): XfccElement[] {
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

const elementValue = (e: XfccElement, key: string): string | undefined => e.find(([k]) => k === key)?.[1];

/**
 * `xfcc`: the certificate of the LAST element. Envoy appends the element for
 * the client it is talking to at the end (APPEND_FORWARD) or replaces the
 * header with that one element (SANITIZE_SET); earlier elements were only
 * passed along from hops further out, which the trusted proxy did not verify
 * and a client may have written itself. The element must carry `Cert` (the
 * identity is a hash of the public key, which `Hash` and `Subject` do not give);
 * when `Hash` is present it must be the SHA-256 of that certificate. `chain`
 * is Chain= without the leaf (Envoy's Chain= starts with it).
 */
export function decodeXfccHeader(lines: string[], header = DEFAULT_NAME.toLowerCase()): DecodedCertificate & { element: XfccElement } {
  const elements = parseXfcc(lines.join(','), header);
  const element = elements[elements.length - 1];
  const cert = elementValue(element, 'cert');
  if (cert === undefined || cert === '') {
    malformed(header, 'the last element has no Cert=; configure the proxy to forward the certificate (Envoy: set_current_client_cert_details { cert: true })');
  }
  const certs = certificatesFromEscapedPem(header, cert);
  if (certs.length !== 1) malformed(header, `Cert= holds ${certs.length} certificates; expected exactly one`);
  const der = certs[0];
  const hashValue = elementValue(element, 'hash');
  if (hashValue !== undefined && hashValue.toLowerCase() !== sha256(der).toString('hex')) {
    malformed(header, 'Hash= is not the SHA-256 of Cert=; the element is inconsistent');
  }
  const chainValue = elementValue(element, 'chain');
  const chain = chainValue ? certificatesFromEscapedPem(header, chainValue) : [];
  // Chain= is the whole chain, leaf first (Envoy, and encodeXfcc above); what is returned is the rest
  if (chain.length > 0 && chain[0].equals(der)) chain.shift();
  return { der, chain, element };
}

export const xfccCodec: IdentityHeaderCodec<DecodedCertificate> = {
  defaultHeaderName: DEFAULT_NAME,
  carriesCertificate: true,
  // encodeXfcc writes Chain= when given a chain, but the proxy gives it none: Envoy sends
  // Chain= only with set_current_client_cert_details.chain (off by default), and the
  // edge's verified chain would add the trust anchor to every header
  sendsChain: false,
  sendsNames: true,
  encoder(opts = {}) {
    const name = opts.headerName ?? DEFAULT_NAME;
    assertHeaderName(name);
    if (opts.by !== undefined) assertValidXfccBy(opts.by);
    const by = opts.by;
    return (peer) => ({ [name]: encodeXfcc(peer.der, peer.chain, { by }) });
  },
  decode(req: HeaderSource, name = DEFAULT_NAME.toLowerCase()) {
    const lines = headerLines(req, name);
    if (lines === undefined) return undefined;
    const { der, chain } = decodeXfccHeader(lines, name);
    return { der, chain };
  },
};
