/**
 * Go's `path.Match`, which KES policies are written in: `*` and `?` stop at
 * `/`, `[...]` classes (negated with `^`) do not, `\` escapes. Patterns are
 * compiled once and malformed ones rejected up front, where Go's KES ignored a
 * bad pattern at request time (an allow rule that silently never matches is a
 * configuration bug worth failing on at start-up).
 */
import { CountersignError } from '../errors.js';

export type PathMatcher = (path: string) => boolean;

const hex = (cp: number) => `\\u{${cp.toString(16)}}`;

function bad(pattern: string, why: string): never {
  throw new CountersignError('ERR_POLICY_INVALID', `pattern "${pattern}": ${why} (syntax of Go's path.Match: * ? [a-z] [^a-z] \\c)`);
}

/** Compiles a Go path.Match pattern; throws ERR_POLICY_INVALID where Go returns ErrBadPattern. */
export function compilePathPattern(pattern: string): PathMatcher {
  const cps = Array.from(pattern, (c) => c.codePointAt(0) as number);
  let re = '';
  let i = 0;
  // one (possibly escaped) character of a class; '-' and ']' must be escaped where Go's getEsc insists
  const classChar = (): number => {
    let c = cps[i];
    if (c === undefined) bad(pattern, 'unterminated character class');
    if (c === 0x2d || c === 0x5d) bad(pattern, `"${String.fromCodePoint(c)}" must be escaped inside a character class`);
    if (c === 0x5c) {
      i++;
      c = cps[i];
      if (c === undefined) bad(pattern, 'trailing backslash');
    }
    i++;
    return c;
  };
  while (i < cps.length) {
    const c = cps[i];
    if (c === 0x2a) { re += '[^/]*'; i++; continue; } // '*'
    if (c === 0x3f) { re += '[^/]'; i++; continue; } // '?'
    if (c === 0x5c) { // '\'
      if (i + 1 >= cps.length) bad(pattern, 'trailing backslash');
      re += hex(cps[i + 1]);
      i += 2;
      continue;
    }
    if (c === 0x5b) { // '['
      i++;
      let negated = false;
      if (cps[i] === 0x5e) { negated = true; i++; }
      let body = '';
      let ranges = 0;
      for (;;) {
        if (cps[i] === 0x5d && ranges > 0) { i++; break; }
        const lo = classChar();
        let hi = lo;
        if (cps[i] === 0x2d) { i++; hi = classChar(); }
        ranges++;
        // lo > hi matches nothing in Go; a JS class would throw, so leave the range out
        if (lo <= hi) body += lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`;
      }
      re += `[${negated ? '^' : ''}${body}]`;
      continue;
    }
    re += hex(c);
    i++;
  }
  const rx = new RegExp(`^(?:${re})$`, 'u');
  return (path) => rx.test(path);
}

/** One-shot Go path.Match (compiles every call; use compilePathPattern for rules). */
export function pathMatch(pattern: string, path: string): boolean {
  return compilePathPattern(pattern)(path);
}
