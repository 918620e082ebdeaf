/**
 * Whole-config reload from the config file (SIGHUP, POST /reload, `countersign
 * reload`): the file is read and validated exactly as `check` does it
 * (loadConfig with its file and certificate checks); any problem refuses the
 * reload, each problem is logged with its key path, and the running config
 * keeps serving. A good config goes to the proxy, which refuses it too when a
 * key changed that needs a restart (config/reload-diff.ts).
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, loadConfig, type Config, type LoadedConfig } from '../config/index.js';
import { isCountersignError } from '../errors.js';
import type { Logger, ReloadOutcome } from '../observe/index.js';

export type ValidatedReload =
  | { ok: true; loaded: LoadedConfig; text: string }
  | { ok: false; outcome: ReloadOutcome };

/** Reads and validates the config file for a reload; a refusal is logged and returned as the reload's outcome. */
export async function validateForReload(file: string, logger: Logger): Promise<ValidatedReload> {
  try {
    const loaded = await loadConfig(file);
    // the text that was validated, for worker processes (they must not read a file that changed since)
    const text = await readFile(loaded.file, 'utf8');
    for (const w of loaded.warnings) logger.warn({ reason: w }, 'config warning');
    return { ok: true, loaded, text };
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [isCountersignError(err) ? err.message : (err as Error).message];
    logger.error({ outcome: 'failed', file, problems }, `reload refused: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the config; the running config keeps serving`);
    return { ok: false, outcome: { ok: false, outcome: 'failed', reason: `reload refused: the config has ${problems.length} problem${problems.length === 1 ? '' : 's'}`, problems } };
  }
}

/** What a single-process proxy does on SIGHUP or POST /reload. */
export async function reloadFromFile(file: string, proxy: { reload(next?: { config: Config; source?: { file: string; digest: string; loadedAt: Date } }): Promise<ReloadOutcome>; reloadRefused(): void }, logger: Logger): Promise<ReloadOutcome> {
  const v = await validateForReload(file, logger);
  if (!v.ok) { proxy.reloadRefused(); return v.outcome; }
  const { config, file: f, digest, loadedAt } = v.loaded;
  return proxy.reload({ config, source: { file: f, digest, loadedAt } });
}
