import { loadConfig, ConfigError, type LoadedConfig } from '../config/index.js';
import { isCountersignError } from '../errors.js';
import type { CliIo } from './command.js';

/**
 * Loads a config for a command; on failure prints every problem (one line
 * each, with the path of the bad key) and returns undefined. Warnings are
 * printed as `warning: …` lines when `printWarnings` (check) is set; `start`
 * logs them instead. Unexpected errors are rethrown.
 */
export async function loadConfigForCli(path: string, io: CliIo, opts?: { checkFiles?: boolean; printWarnings?: boolean }): Promise<LoadedConfig | undefined> {
  const warn = (warnings: string[]) => { if (opts?.printWarnings) for (const w of warnings) io.err(`warning: ${w}`); };
  try {
    const loaded = await loadConfig(path, opts);
    warn(loaded.warnings);
    return loaded;
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`${err.file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}`);
      for (const p of err.problems) io.err(`  ${p}`);
      warn(err.warnings);
      return undefined;
    }
    if (isCountersignError(err)) { io.err(err.message); return undefined; }
    throw err;
  }
}
