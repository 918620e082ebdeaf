import { parseArgs } from 'node:util';
import { CountersignError } from '../errors.js';

/** node:util parseArgs with our usage error. */
export function parseCommandArgs<T extends Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>>(
  args: string[], options: T, usage: string,
): { values: { [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean }; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return r as never;
  } catch (err) {
    throw new CountersignError('ERR_USAGE', `${(err as Error).message}\nusage: ${usage}`);
  }
}
