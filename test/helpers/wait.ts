/**
 * Waiting in tests: for a condition, for a promise with a deadline, and (only
 * to pace a client or to give "nothing else happens" a window) for time.
 */

/** Waits `ms`. Not for use before an assertion that something happened: wait for the event instead. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it returns something other than undefined/false and
 * returns that; a probe that throws counts as "not yet" (its last error is in
 * the timeout message).
 */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) { lastError = err; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `p`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(p: Promise<T>, what: string, ms = 8_000): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: nothing after ${ms} ms`)), ms); })]).finally(() => clearTimeout(t));
}

/** A promise with its resolve function, for "this event happened". */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

/** Resolves once the wall clock has passed `when` (e.g. a certificate's notAfter). */
export async function untilPast(when: Date | number): Promise<void> {
  const t = typeof when === 'number' ? when : when.getTime();
  while (Date.now() <= t) await sleep(Math.min(1_000, t - Date.now() + 5));
}

/**
 * Resolves once `output()` matches `ready`, looked at on every chunk the child
 * writes (no polling); rejects, with the output, when the child exits first or
 * after `timeoutMs`.
 */
export function waitForOutput(child: import('node:child_process').ChildProcess, output: () => string, ready: RegExp | string, what: string, timeoutMs = 60_000): Promise<void> {
  const matches = () => (typeof ready === 'string' ? output().includes(ready) : ready.test(output()));
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      child.stdout?.removeListener('data', check);
      child.stderr?.removeListener('data', check);
      child.removeListener('exit', exited);
      if (err) reject(err); else resolve();
    };
    // after the helper's own data listener has appended the chunk
    const check = () => { setImmediate(() => { if (matches()) done(); }); };
    const exited = () => { if (matches()) done(); else done(new Error(`${what} exited before it was ready: ${output()}`)); };
    const timer = setTimeout(() => done(new Error(`${what} not ready after ${timeoutMs} ms: ${output()}`)), timeoutMs);
    if (matches()) { done(); return; }
    if (child.exitCode !== null) { exited(); return; }
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', exited);
  });
}
