/**
 * The answers the proxy writes itself (refusals, 404, 421, 502, 504, …; a
 * backend's responses pass as the backend sent them), built here and nowhere
 * else: a JSON body `{"error": "…"}` and the headers every one carries. The
 * listener speaks only TLS, so HSTS is true of it, and an error body is
 * neither to sniff nor to cache.
 */
import { http } from '../../node-http.js';

export const OWN_ANSWER_HEADERS: Readonly<Record<string, string>> = {
  'strict-transport-security': 'max-age=31536000',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

const OWN_ANSWER_HEAD = Object.entries(OWN_ANSWER_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join('');

/** The body of an own answer; empty when `message` is (the parser-level refusals, as Node's server sends them). */
export function ownAnswerBody(message: string): string {
  return message ? JSON.stringify({ error: message }) + '\n' : '';
}

/** Header fields of an own answer, for a response object (HTTP/1.1 or HTTP/2). */
export function ownAnswerHeaders(body: string): Record<string, string | number> {
  return { ...(body ? { 'content-type': 'application/json' } : {}), 'content-length': Buffer.byteLength(body), ...OWN_ANSWER_HEADERS };
}

/** A whole HTTP/1.1 own answer as latin1 text for a raw socket. */
export function rawOwnAnswer(status: number, message: string, o: { close: boolean; http10?: boolean }): string {
  const body = ownAnswerBody(message);
  const connection = o.close ? 'connection: close\r\n' : o.http10 ? 'connection: keep-alive\r\n' : '';
  const type = body ? 'content-type: application/json\r\n' : '';
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'unknown'}\r\n${type}content-length: ${Buffer.byteLength(body)}\r\n${OWN_ANSWER_HEAD}${connection}\r\n${body}`;
}
