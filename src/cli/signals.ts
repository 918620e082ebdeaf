/**
 * SIGINT/SIGTERM stop gracefully (a second signal stops at once); SIGHUP reloads;
 * SIGUSR1 reopens log files.
 */
import type { Logger, ReopenResult } from '../observe/index.js';

export interface SignalHandlers {
  onStop(): Promise<void>;
  onReload?(): void;
  log(message: string): void;
}

export function onShutdownSignals(handlers: SignalHandlers): void {
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) { handlers.log(`${sig} again: exiting now`); process.exit(130); }
    stopping = true;
    handlers.log(`${sig}: stopping; open connections get the shutdown grace period`);
    handlers.onStop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (handlers.onReload) process.on('SIGHUP', () => { handlers.log('SIGHUP: reloading'); handlers.onReload!(); });
}

/**
 * SIGUSR1 reopens the log and audit files (nginx's habit, for logrotate) and
 * never opens an inspector: bin/countersign.js already holds a listener, which
 * keeps Node's own handler away. `reopen` does the work (in the primary it also
 * tells the workers); its outcome is logged.
 */
export function onReopenSignal(reopen: () => Promise<ReopenResult>, logger: Logger): void {
  process.on('SIGUSR1', () => { void reopenAndLog(reopen, logger, 'SIGUSR1'); });
}

export async function reopenAndLog(reopen: () => Promise<ReopenResult>, logger: Logger, why: string): Promise<void> {
  const r = await reopen();
  if (r.reopened.length === 0 && r.failed.length === 0) { logger.info({ outcome: 'ignored' }, `${why}: no log or audit file to reopen; ignored`); return; }
  if (r.reopened.length) logger.info({ outcome: 'reopened', reopened: r.reopened }, `${why}: reopened ${r.reopened.join(', ')}`);
  for (const f of r.failed) logger.error({ outcome: 'failed', file: f.name, reason: f.reason }, `${why}: cannot reopen ${f.name}`);
}
