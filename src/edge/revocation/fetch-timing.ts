/**
 * The timing rules CRL distribution points and OCSP responders share: how far
 * ahead of our clock a thisUpdate may be, the shortest wait between fetches,
 * and the backoff after failures.
 */

/** thisUpdate may be this far ahead of our clock (the CA's clock may run ahead) */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** no source is asked again sooner than this */
export const MIN_DELAY_MS = 1_000;

/** The wait before asking again after `failures` failures in a row: doubling from MIN_DELAY_MS, never over `capMs`. */
export function retryDelayMs(failures: number, capMs: number): number {
  return Math.min(capMs, MIN_DELAY_MS * 2 ** Math.min(Math.max(failures, 1) - 1, 20));
}
