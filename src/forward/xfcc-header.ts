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
 */
import { hash } from 'node:crypto';
import { CountersignError } from '../errors.js';
import { der, findExtension, OID, parseCertificateFields, toPem, type CertificateFields } from '../pki/index.js';
import { escapeUriComponentLikeNginx } from './nginx-uri-escape.js';
import { formatNameRfc2253 } from './openssl-rfc2253-name.js';

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
