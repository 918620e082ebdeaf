/**
 * The ACME maintainer's and issuer's timings as they take them (ms, ratio),
 * from a validated `edge.acme` block or from the schema's defaults. Neither has
 * defaults of its own: they live in the schema (DEFAULTS) only.
 */
import { parseDuration } from './duration.js';
import { DEFAULTS, type AcmeConfig } from './schema.js';

export interface AcmeTiming {
  /** renew when this fraction of a certificate's lifetime remains, in (0, 1) */
  renewalWindowRatio: number;
  /** longest sleep of the maintenance loop, ms (`edge.acme.renewCheckInterval`) */
  checkIntervalMs: number;
  /** first retry delay after a failure, ms (doubles, jittered) */
  retryMinMs: number;
  /** cap of the retry delay, ms */
  retryMaxMs: number;
  /** first delay between polls of a pending challenge or order, ms (doubles) */
  pollMinMs: number;
  /** longest delay between those polls, ms */
  pollMaxMs: number;
  /** a challenge or order still pending after this many ms fails the attempt */
  validationTimeoutMs: number;
  /** per request to the ACME server, ms */
  requestTimeoutMs: number;
}

/** A literal of DEFAULTS, which the schema's own tests show parses. */
const ms = (literal: string): number => parseDuration(literal) as number;

/** The schema's defaults (renewal at 1/3 of the lifetime left, a 10 min loop, retries from 1 min to 1 h, …). */
export const DEFAULT_ACME_TIMING: Readonly<AcmeTiming> = Object.freeze({
  renewalWindowRatio: DEFAULTS.acmeRenewalWindowRatio,
  checkIntervalMs: ms(DEFAULTS.acmeRenewCheckInterval),
  retryMinMs: ms(DEFAULTS.acmeRetryMin),
  retryMaxMs: ms(DEFAULTS.acmeRetryMax),
  pollMinMs: ms(DEFAULTS.acmePollMin),
  pollMaxMs: ms(DEFAULTS.acmePollMax),
  validationTimeoutMs: ms(DEFAULTS.acmeValidationTimeout),
  requestTimeoutMs: ms(DEFAULTS.acmeRequestTimeout),
});

/** The timings a validated `edge.acme` block sets; the rest are the defaults. */
export function acmeTiming(acme: Pick<AcmeConfig, 'renewCheckInterval'>): AcmeTiming {
  return { ...DEFAULT_ACME_TIMING, checkIntervalMs: acme.renewCheckInterval };
}
