/**
 * SIGINT/SIGTERM stop gracefully (a second signal stops at once); SIGHUP reloads.
 */
export interface SignalHandlers {
  onStop(): Promise<void>;
  onReload?(): void;
  log(message: string): void;
}

export function onShutdownSignals(h: SignalHandlers): void {
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) { h.log(`${sig} again: exiting now`); process.exit(130); }
    stopping = true;
    h.log(`${sig}: stopping; open connections get the shutdown grace period`);
    h.onStop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (h.onReload) process.on('SIGHUP', () => { h.log('SIGHUP: reloading certificates'); h.onReload!(); });
}
