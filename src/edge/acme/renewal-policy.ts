/**
 * When to renew and how long to wait after a failure. Renewal is by fraction of
 * lifetime, not a fixed number of days (certmagic's default window of 1/3), so
 * a 90-day Let's Encrypt certificate renews with 30 days left and a 6-day or
 * 10-second certificate renews just as sensibly.
 */

// The defaults (1/3, retries from 1 min to 1 h) are the schema's: config/acme-timing.ts.

/** The moment renewal becomes due: `ratio` of the lifetime before notAfter. */
export function renewalDueAt(validity: { notBefore: Date; notAfter: Date }, ratio: number): Date {
  const nb = validity.notBefore.getTime();
  const na = validity.notAfter.getTime();
  return new Date(na - (na - nb) * ratio);
}

export interface RetryPolicy {
  minMs: number;
  maxMs: number;
  /** [0, 1); injectable for tests of the bounds */
  random?: () => number;
}

/**
 * Delay before retry number `failures` (1 = after the first failure): doubles
 * from `minMs` up to `maxMs`, then "equal jitter" (half fixed, half random) so a
 * fleet restarted together does not hit the CA in lockstep, while the delay
 * still grows for every instance.
 */
export function retryDelayMs(failures: number, policy: RetryPolicy): number {
  const exp = Math.min(policy.maxMs, policy.minMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  const r = (policy.random ?? Math.random)();
  return Math.round(exp / 2 + r * (exp / 2));
}
