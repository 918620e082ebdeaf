import { CountersignError } from '../errors.js';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export interface PemBlock { label: string; der: Buffer }

/**
 * True when `body` (whitespace removed) is base64 and nothing else, with at
 * most two '=' and only at the end. Looking for the first character outside
 * the alphabet takes 7 ms on a 100,000-entry CRL; one anchored pattern over
 * the whole body took 30–50 ms, a stall on every reload of such a CRL.
 */
function isBase64(body: string): boolean {
  if (/[^A-Za-z0-9+/=]/.test(body)) return false;
  const padding = body.indexOf('=');
  return padding === -1 || (body.length - padding <= 2 && (padding === body.length - 1 || body.charCodeAt(padding + 1) === 0x3d));
}

/** Every PEM block in `text`, in order. */
export function pemBlocks(text: string | Buffer): PemBlock[] {
  const s = typeof text === 'string' ? text : text.toString('latin1');
  const out: PemBlock[] = [];
  for (const m of s.matchAll(BLOCK)) {
    const body = m[2].replace(/\s+/g, '');
    if (!isBase64(body)) {
      throw new CountersignError('ERR_PEM_INVALID', `PEM block "${m[1]}" has characters that are not base64`);
    }
    out.push({ label: m[1], der: Buffer.from(body, 'base64') });
  }
  return out;
}

/** The DER of every CERTIFICATE block; accepts DER input too (one certificate). */
export function certificatesDer(input: string | Buffer, what = 'input'): Buffer[] {
  if (Buffer.isBuffer(input) && input[0] === 0x30) return [input];
  const certs = pemBlocks(input).filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
  if (certs.length === 0) {
    throw new CountersignError('ERR_PEM_INVALID', `${what}: no "-----BEGIN CERTIFICATE-----" block found; give a PEM or DER certificate`);
  }
  return certs;
}

export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN ${label}-----\n${body || '\n'}-----END ${label}-----\n`;
}
