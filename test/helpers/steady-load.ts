/**
 * Steady load for reload tests: `concurrency` loops, each running `one()` again
 * as soon as it finishes, until stop(); every rejection is counted (and the
 * first few kept) so a test can assert zero failed requests.
 */
export interface SteadyLoad {
  /** resolves once at least `n` more requests have succeeded */
  progress(n: number): Promise<void>;
  /**
   * resolves once every loop has finished `n` more requests (2 after an event:
   * the second one started after it, so nothing begun before it is still running)
   */
  progressEach(n: number): Promise<void>;
  stop(): Promise<{ ok: number; failed: number; errors: string[] }>;
}

export function steadyLoad(one: (loop: number) => Promise<void>, concurrency = 4): SteadyLoad {
  let running = true;
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  const waiters: { until: number; resolve(): void }[] = [];
  /** requests finished (ok or not) by each loop */
  const finished = Array.from({ length: concurrency }, () => 0);
  const eachWaiters: { until: number[]; resolve(): void }[] = [];
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    while (running) {
      try {
        await one(i);
        ok++;
        for (const w of [...waiters]) if (ok >= w.until) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
      } catch (err) {
        failed++;
        if (errors.length < 10) errors.push((err as Error).message);
      }
      finished[i]++;
      for (const w of [...eachWaiters]) if (w.until.every((u, j) => finished[j] >= u)) { eachWaiters.splice(eachWaiters.indexOf(w), 1); w.resolve(); }
    }
  });
  return {
    progress: (n) => new Promise((resolve) => waiters.push({ until: ok + n, resolve })),
    progressEach: (n) => new Promise((resolve) => eachWaiters.push({ until: finished.map((f) => f + n), resolve })),
    stop: async () => { running = false; await Promise.all(loops); return { ok, failed, errors }; },
  };
}
