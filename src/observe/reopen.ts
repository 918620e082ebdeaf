/**
 * Files reopened on SIGUSR1 (nginx's habit, for logrotate): the log file, the
 * audit file. Whoever owns a file registers its reopen here; the CLI calls
 * reopenFiles() when the signal (or the primary's order) arrives.
 */
export type ReopenFn = () => void | Promise<void>;

const hooks = new Map<string, ReopenFn>();

/** Registers `fn` under `name` (`log`, `audit`, …); returns the unregister function. */
export function onReopen(name: string, fn: ReopenFn): () => void {
  hooks.set(name, fn);
  return () => { if (hooks.get(name) === fn) hooks.delete(name); };
}

export interface ReopenResult {
  reopened: string[];
  failed: { name: string; reason: string }[];
}

/** Reopens every registered file; a failure is reported, never thrown. */
export async function reopenFiles(): Promise<ReopenResult> {
  const out: ReopenResult = { reopened: [], failed: [] };
  for (const [name, fn] of [...hooks]) {
    try {
      await fn();
      out.reopened.push(name);
    } catch (err) {
      out.failed.push({ name, reason: (err as Error).message });
    }
  }
  return out;
}
