/**
 * What the ACME maintainer tells the world, emitted once per happening: to the
 * diagnostics channel `countersign:edge:acme` and to every subscriber. Logging
 * is one such subscriber (`logAcmeEvents`), so a log line and an event can
 * never tell two different stories.
 */
import { channel } from 'node:diagnostics_channel';
import { reasonOf, type EdgeLogger } from '../logger.js';

export const acmeChannel = channel('countersign:edge:acme');

export type AcmeEvent =
  /** a stored certificate is served (at start, or written by another instance of a fleet) */
  | { type: 'loaded'; domain: string; notAfter: Date; expiresInSeconds: number; nextRenewal: Date; certSha256: string; storage: string }
  /** a stored certificate cannot be served (unreadable, wrong name, key mismatch) */
  | { type: 'unusable'; domain: string; path: string; code?: string; reason: string }
  /** another instance of the fleet holds this domain's order lock (told once per wait) */
  | { type: 'waiting'; domain: string; storage: string }
  /** the CA accepted an order */
  | { type: 'order'; domain: string; renewal: boolean; order: string }
  | { type: 'issued' | 'renewed'; domain: string; issuer: string; notAfter: Date; expiresInSeconds: number; nextRenewal: Date; durationMs: number; certSha256: string }
  /** an issuance or renewal failed; `expiresInSeconds` is there when a previous certificate is still served */
  | { type: 'failed'; domain: string; renewal: boolean; code: string; reason: string; failures: number; retryInMs: number; expiresInSeconds?: number };

export type AcmeEventListener = (event: AcmeEvent) => void;

/** One emitter: the channel, then the subscribers; a subscriber that throws is reported and the others still run. */
export class AcmeEvents {
  private readonly listeners = new Set<AcmeEventListener>();

  constructor(private readonly logger: EdgeLogger) {}

  on(listener: AcmeEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: AcmeEvent): void {
    if (acmeChannel.hasSubscribers) acmeChannel.publish(event);
    for (const listener of this.listeners) {
      try { listener(event); } catch (err) { this.logger.error({ event: event.type, ...reasonOf(err) }, 'ACME event listener failed'); }
    }
  }
}

/** The log line of each event (stable messages and fields; never a key or a whole certificate). */
export function logAcmeEvent(logger: EdgeLogger, event: AcmeEvent): void {
  switch (event.type) {
    case 'loaded':
      logger.info({
        domain: event.domain, notAfter: event.notAfter.toISOString(), expiresInSeconds: event.expiresInSeconds,
        nextRenewal: event.nextRenewal.toISOString(), certSha256: event.certSha256, storage: event.storage,
      }, 'ACME certificate loaded from storage');
      return;
    case 'unusable':
      logger.warn({ domain: event.domain, path: event.path, reason: event.reason, ...(event.code ? { code: event.code } : {}) }, 'stored ACME certificate not usable');
      return;
    case 'waiting':
      logger.info({ domain: event.domain, storage: event.storage }, 'ACME order for this domain runs on another instance; waiting for its certificate');
      return;
    case 'order':
      logger.info({ domain: event.domain, renewal: event.renewal, order: event.order }, 'ACME order placed');
      return;
    case 'issued':
    case 'renewed':
      logger.info({
        domain: event.domain, issuer: event.issuer, notAfter: event.notAfter.toISOString(), expiresInSeconds: event.expiresInSeconds,
        nextRenewal: event.nextRenewal.toISOString(), durationMs: event.durationMs, certSha256: event.certSha256,
      }, event.type === 'renewed' ? 'ACME certificate renewed' : 'ACME certificate issued');
      return;
    case 'failed':
      logger.warn({
        domain: event.domain, code: event.code, reason: event.reason, failures: event.failures, retryInMs: event.retryInMs,
        ...(event.expiresInSeconds !== undefined ? { expiresInSeconds: event.expiresInSeconds, serving: 'previous certificate' } : { serving: 'fallback certificate' }),
      }, event.renewal ? 'ACME renewal failed; will retry' : 'ACME issuance failed; will retry');
      return;
    default: {
      const unhandled: never = event;
      throw new Error(`unhandled ACME event ${JSON.stringify(unhandled)}`);
    }
  }
}

/** Logs every event of `events` through `logger`; returns the unsubscribe. */
export function logAcmeEvents(events: AcmeEvents, logger: EdgeLogger): () => void {
  return events.on((event) => logAcmeEvent(logger, event));
}
