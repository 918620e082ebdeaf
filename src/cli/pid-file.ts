/**
 * The pid file (`pidFile`): written by `countersign start` (the primary with
 * workers) once it listens, mode 0644, removed at stop if it still holds our
 * pid; read by `countersign reload` to send SIGHUP when there is no admin
 * listener. A pid file that cannot be written is logged and is not fatal (the
 * admin listener and `kill -HUP` still reach the process).
 */
import { readFileSync, unlinkSync, writeFileSync, chmodSync } from 'node:fs';
import type { Logger } from '../observe/index.js';

export function writePidFile(path: string | undefined, logger: Logger): () => void {
  if (!path) return () => {};
  try {
    writeFileSync(path, `${process.pid}\n`, { mode: 0o644 });
    chmodSync(path, 0o644);
  } catch (err) {
    logger.warn({ path, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, 'cannot write the pid file; `countersign reload` needs admin.listen or a signal sent by hand');
    return () => {};
  }
  return () => {
    try { if (readPidFile(path) === process.pid) unlinkSync(path); } catch { /* gone already */ }
  };
}

/** The pid in the file, or undefined when the file is missing or holds no pid. */
export function readPidFile(path: string): number | undefined {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch { return undefined; }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
