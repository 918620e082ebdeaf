/**
 * "did you mean …" for names a person typed: config keys, enum values, CLI
 * commands and options. Edit distance from fastest-levenshtein; a suggestion
 * is made only when the name is close (a third of its length, at least 2
 * edits), so a wild guess gets none.
 */
import { distance } from 'fastest-levenshtein';

/** The candidate closest to `input` (case-insensitive), if it is close enough to be what was meant. */
export function closestName(input: string, candidates: Iterable<string>): string | undefined {
  const want = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(want, c.toLowerCase());
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  return best !== undefined && bestDistance > 0 && bestDistance <= Math.max(2, Math.floor(input.length / 3)) ? best : undefined;
}

/** `; did you mean "x"?` (quoted with `quote`), or '' when nothing is close. */
export function didYouMean(input: string, candidates: Iterable<string>, quote = '"'): string {
  const c = closestName(input, candidates);
  return c === undefined ? '' : `; did you mean ${quote}${c}${quote}?`;
}
