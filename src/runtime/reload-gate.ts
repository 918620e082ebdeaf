/**
 * What every reload shares, in the single process and in the primary of
 * worker processes: reloads run one at a time (a second SIGHUP waits for the
 * first), and a key that cannot change without a restart refuses the whole
 * reload with one text, logged once.
 */
import type { ConfigChanges } from '../config/index.js';
import type { ReloadOutcome } from '../observe/index.js';

/** What the runtime's parts log through (pino's logger fits). */
export interface LogSink {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** `run`, one call at a time: each call starts once the previous one has settled (whatever its outcome). */
export function oneAtATime<A extends unknown[], R>(run: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  let previous: Promise<unknown> = Promise.resolve();
  return (...args: A) => {
    const next = previous.then(() => run(...args), () => run(...args));
    previous = next.catch(() => {});
    return next;
  };
}

/** The keys of `changes` that need a restart, as the problems a refused reload reports (empty: none). */
export function restartProblems(changes: Pick<ConfigChanges, 'restartRequired'>): string[] {
  return changes.restartRequired.map((key) => `${key}: changed, but it cannot change without a restart (the running value stays; restart countersign to apply it)`);
}

/** Logs a refused reload once and returns its outcome: the running config keeps serving. */
export function refuseReload(logger: Pick<LogSink, 'error'>, problems: string[], file?: string): ReloadOutcome {
  logger.error({ outcome: 'failed', problems, ...(file ? { file } : {}) }, 'reload refused; the running config keeps serving');
  return { ok: false, outcome: 'failed', reason: `reload refused: ${problems.join('; ')}`, problems };
}
