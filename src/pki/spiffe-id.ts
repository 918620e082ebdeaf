/**
 * SPIFFE IDs (github.com/spiffe/spiffe, standards/SPIFFE-ID.md): `spiffe://`, a
 * trust domain of lowercase letters, digits, `.`, `-` and `_`, then a path of
 * segments of letters, digits, `.`, `-` and `_` (no empty, `.` or `..`
 * segment, no trailing slash, no query, fragment, port, user info or percent
 * encoding), 2048 bytes at most. Used by the edge access rules (`allow.uri`).
 */

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const PREFIX = 'spiffe://';
export const SPIFFE_ID_MAX_LENGTH = 2048;

export interface SpiffeId { trustDomain: string; segments: string[] }

/** The parts of a SPIFFE ID, or why the text is not one. */
export function parseSpiffeId(text: string): SpiffeId | { error: string } {
  if (text.length > SPIFFE_ID_MAX_LENGTH) return { error: `longer than ${SPIFFE_ID_MAX_LENGTH} characters` };
  if (!text.startsWith(PREFIX)) return { error: 'a SPIFFE ID starts with spiffe:// (lowercase)' };
  const rest = text.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (trustDomain === '') return { error: 'the trust domain is empty' };
  if (trustDomain.length > 255) return { error: 'the trust domain is longer than 255 characters' };
  if (!TRUST_DOMAIN.test(trustDomain)) return { error: `trust domain "${trustDomain}" may hold only lowercase letters, digits, ".", "-" and "_" (no port, user info or upper case)` };
  if (slash === -1) return { trustDomain, segments: [] };
  const segments = rest.slice(slash + 1).split('/');
  for (const s of segments) {
    if (s === '') return { error: 'the path has an empty segment (a double or trailing slash)' };
    if (s === '.' || s === '..') return { error: `the path has a "${s}" segment` };
    if (!SEGMENT.test(s)) return { error: `path segment "${s}" may hold only letters, digits, ".", "-" and "_"` };
  }
  return { trustDomain, segments };
}

/**
 * A SPIFFE ID pattern: a SPIFFE ID, or one whose last path segment is `*`
 * (exactly one more segment, whatever it is: `spiffe://corp/ns/db/*` matches
 * `spiffe://corp/ns/db/api` but neither `spiffe://corp/ns/db` nor
 * `spiffe://corp/ns/db/api/v2`). No other wildcard.
 */
export interface SpiffePattern { id: string; wildcard: boolean; prefix: string }

export function parseSpiffePattern(text: string): SpiffePattern | { error: string } {
  const wildcard = text.endsWith('/*');
  const base = wildcard ? text.slice(0, -2) : text;
  if (base.includes('*')) return { error: 'only a last path segment of "*" is a wildcard ("spiffe://corp/ns/db/*")' };
  const parsed = parseSpiffeId(base);
  if ('error' in parsed) return parsed;
  return { id: text, wildcard, prefix: base + '/' };
}

/** Whether a URI from a certificate matches a pattern; a URI that is not a SPIFFE ID matches none. */
export function spiffeMatches(pattern: SpiffePattern, uri: string): boolean {
  if (!pattern.wildcard) return uri === pattern.id && !('error' in parseSpiffeId(uri));
  if (!uri.startsWith(pattern.prefix)) return false;
  const last = uri.slice(pattern.prefix.length);
  return SEGMENT.test(last) && last !== '.' && last !== '..' && uri.length <= SPIFFE_ID_MAX_LENGTH;
}
