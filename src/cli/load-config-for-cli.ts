import { loadConfig, ConfigError, type LoadedConfig } from '../config/index.js';
import { isCountersignError } from '../errors.js';
import type { CliIo } from './command.js';

/**
 * Loads a config for a command; on failure prints every problem (one line
 * each, with the path of the bad key) and returns undefined. Unexpected errors
 * are rethrown.
 */
export async function loadConfigForCli(path: string, io: CliIo, opts?: { checkFiles?: boolean }): Promise<LoadedConfig | undefined> {
  try {
    return await loadConfig(path, opts);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`${err.file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}`);
      for (const p of err.problems) io.err(`  ${p}`);
      return undefined;
    }
    if (isCountersignError(err)) { io.err(err.message); return undefined; }
    throw err;
  }
}
