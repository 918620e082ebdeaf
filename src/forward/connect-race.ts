/**
 * Connecting to one of a cluster's servers quickly when one is slow or frozen
 * (happy eyeballs, RFC 8305 style): the first server's connect starts; if it has
 * not finished its handshake after `raceDelayMs`, the next server's starts too
 * (and at once when an attempt fails); the first handshake to complete wins and
 * the others are closed. A server with a connect pending longer than the race
 * delay counts as busy (`isStalled`), so new connections do not queue behind it.
 *
 * Also the passive health state of a server: down after a failed connect, its
 * next retry after a backoff that doubles per consecutive failure; one call of
 * `onStateChange` per change (down, up), which the proxy logs at warn.
 */
import type { TLSSocket } from 'node:tls';

export interface RaceServer {
  address: string;
  failedUntil: number;
  /** connects started and not finished */
  pending?: number;
  /** when the oldest pending connect started (ms since epoch) */
  pendingSince?: number;
  /** consecutive failed connects */
  failures?: number;
  down?: boolean;
}

/** A server whose connect has been pending longer than `raceDelayMs`: pick another. */
export function isStalled(s: RaceServer, raceDelayMs: number, now = Date.now()): boolean {
  return (s.pending ?? 0) > 0 && s.pendingSince !== undefined && now - s.pendingSince >= raceDelayMs;
}

export interface HealthOptions {
  /** base time a failed server is skipped */
  failTimeoutMs: number;
  /** cap of the backoff; default 6 × failTimeoutMs */
  maxBackoffMs?: number;
  onStateChange?(server: RaceServer, state: 'down' | 'up', detail: { reason?: string; retryInMs?: number; failures?: number }): void;
}

export function markDown(s: RaceServer, health: HealthOptions, reason: string, now = Date.now()): void {
  s.failures = (s.failures ?? 0) + 1;
  const backoff = Math.min(health.failTimeoutMs * 2 ** (s.failures - 1), health.maxBackoffMs ?? health.failTimeoutMs * 6);
  s.failedUntil = now + backoff;
  if (!s.down) {
    s.down = true;
    health.onStateChange?.(s, 'down', { reason, retryInMs: backoff, failures: s.failures });
  }
}

export function markUp(s: RaceServer, health: HealthOptions): void {
  const failures = s.failures ?? 0;
  s.failedUntil = 0;
  s.failures = 0;
  if (s.down) {
    s.down = false;
    health.onStateChange?.(s, 'up', { failures });
  }
}

export interface RaceOptions<S extends RaceServer> {
  /** the next server to try, not one of `exclude`; undefined when none is left */
  pick(exclude: ReadonlySet<S>): S | undefined;
  attempt(s: S): Promise<TLSSocket>;
  raceDelayMs: number;
  /** a connect failed: true if the server should be marked down */
  failed(s: S, err: Error): void;
  succeeded(s: S): void;
}

/** Resolves with the first server whose handshake completes; rejects with the last error when all failed. */
export function raceConnect<S extends RaceServer>(opts: RaceOptions<S>): Promise<{ socket: TLSSocket; server: S }> {
  return new Promise((resolve, reject) => {
    const tried = new Set<S>();
    let running = 0;
    let won = false;
    let last: Error | undefined;
    let timer: NodeJS.Timeout | undefined;
    const next = () => {
      clearTimeout(timer);
      if (won) return;
      const s = opts.pick(tried);
      if (!s) {
        if (running === 0) reject(last ?? new Error('no servers'));
        return;
      }
      tried.add(s);
      running++;
      const started = Date.now();
      s.pending = (s.pending ?? 0) + 1;
      if (s.pending === 1) s.pendingSince = started;
      const settle = () => {
        running--;
        s.pending = Math.max(0, (s.pending ?? 1) - 1);
        if (s.pending === 0) s.pendingSince = undefined;
      };
      opts.attempt(s).then((socket) => {
        settle();
        opts.succeeded(s);
        if (won) { socket.destroy(); return; }
        won = true;
        clearTimeout(timer);
        resolve({ socket, server: s });
      }, (err: Error) => {
        settle();
        last = err;
        opts.failed(s, err);
        if (!won) next();
      });
      // still no answer: start the next server too
      if (opts.raceDelayMs > 0) timer = setTimeout(next, opts.raceDelayMs);
    };
    next();
  });
}
