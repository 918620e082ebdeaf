/**
 * nginx's URI-component escaping, byte for byte.
 *
 * `$ssl_client_escaped_cert` is `ngx_escape_uri(..., NGX_ESCAPE_URI_COMPONENT)`
 * applied to the PEM that OpenSSL's PEM_write_bio_X509 writes
 * (src/event/ngx_event_openssl.c, ngx_ssl_get_escaped_certificate). The table
 * below is nginx's `uri_component` bitmap from src/core/ngx_string.c, copied
 * word for word (it has not changed since nginx 0.1.17): a set bit means the
 * byte is written as "%" + two UPPER-case hex digits. Everything except ALPHA,
 * DIGIT, "-", ".", "_" and "~" is escaped.
 *
 * encodeURIComponent is not the same thing: it leaves "!", "'", "(", ")", "*"
 * alone and escapes by UTF-16 code point, not by byte. For a PEM the two agree
 * (its alphabet is A-Z a-z 0-9 + / = - space newline) but the header contract
 * is "what nginx sends", so the table is nginx's.
 *
 * Envoy's XFCC `Cert=` uses its own PercentEncoding::urlEncode (unreserved:
 * ALPHA DIGIT "*" "-" "." "_"); on a PEM it produces the same bytes as this.
 *
 * Hand-written on purpose, against the house habit of preferring a package:
 * the contract is "what nginx sends" (KES, Keycloak and others parse nginx's
 * `$ssl_client_escaped_cert`), so it must match nginx byte for byte, and no URL
 * encoder (encodeURIComponent, querystring.escape, the npm ones) uses nginx's
 * table. Pinned by values captured from a real nginx
 * (test/unit/identity-headers.test.ts, test/interop/nginx-escaped-cert.test.ts).
 */

/** nginx's `uri_component` escape bitmap: 8 words of 32 bits, one bit a byte value. */
const NGX_ESCAPE_URI_COMPONENT: readonly number[] = [
  0xffffffff, // 0x00-0x1f: control characters
  0xfc009fff, // 0x20-0x3f: ?>=< ;:98 7654 3210  /.-, +*)( '&%$ #"!  -> all but "-", ".", digits
  0x78000001, // 0x40-0x5f: _^]\ [ZYX ... CBA@                      -> "@", "[", "\", "]", "^"
  0xb8000001, // 0x60-0x7f:  ~}| {zyx ... cba`                      -> "`", "{", "|", "}", DEL
  0xffffffff, // 0x80-0xff: every byte with the high bit set
  0xffffffff,
  0xffffffff,
  0xffffffff,
];

const HEX = '0123456789ABCDEF';

/** For each byte, what nginx writes: the byte itself or its %XX escape. Built once. */
const ENCODED: readonly string[] = Array.from({ length: 256 }, (_, b) =>
  (NGX_ESCAPE_URI_COMPONENT[b >> 5] & (1 << (b & 0x1f))) !== 0
    ? '%' + HEX[b >> 4] + HEX[b & 0xf]
    : String.fromCharCode(b),
);

/**
 * The bytes nginx leaves alone, as a regex class built from the table (so the
 * table stays the only source): replacing the others with one regex pass is
 * about 4x faster than appending byte by byte.
 */
const KEPT = ENCODED.flatMap((e, b) => (e.length === 1 ? ['\\x' + b.toString(16).padStart(2, '0')] : [])).join('');
/** One code point nginx escapes (in a string: its UTF-8 bytes are escaped). */
const ESCAPED_CHAR = new RegExp(`[^${KEPT}]`, 'gu');
/** One byte nginx escapes, in a Latin-1 string that stands for raw bytes. */
const ESCAPED_BYTE = new RegExp(`[^${KEPT}]`, 'g');

const escapeChar = (c: string): string => {
  const code = c.charCodeAt(0);
  if (c.length === 1 && code < 0x80) return ENCODED[code];
  let out = '';
  for (const b of Buffer.from(c, 'utf8')) out += ENCODED[b];
  return out;
};
const escapeByte = (c: string): string => ENCODED[c.charCodeAt(0)];

/** True when nginx's URI-component escaping rewrites this byte. */
export function nginxEscapesByte(byte: number): boolean {
  return ENCODED[byte & 0xff].length === 3;
}

/**
 * `input` escaped exactly as `ngx_escape_uri(dst, src, n, NGX_ESCAPE_URI_COMPONENT)`
 * would. A string is taken as its UTF-8 bytes (nginx works on bytes).
 */
export function escapeUriComponentLikeNginx(input: string | Uint8Array): string {
  if (typeof input === 'string') return input.replace(ESCAPED_CHAR, escapeChar);
  return Buffer.from(input).toString('latin1').replace(ESCAPED_BYTE, escapeByte);
}
