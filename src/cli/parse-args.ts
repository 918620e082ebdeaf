import { parseArgs } from 'node:util';
import { didYouMean } from '../did-you-mean.js';
import { CountersignError } from '../errors.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  default?: string | boolean;
  /** the values a string option accepts; anything else is a usage error naming them */
  choices?: readonly string[];
}

/** "countersign certs init" from "countersign certs init [--out DIR]" */
export function commandOf(usage: string): string {
  const words: string[] = [];
  for (const w of usage.split(' ')) { if (/^[-[A-Z]/.test(w)) break; words.push(w); }
  return words.join(' ');
}

/**
 * node:util parseArgs with our usage errors: one line that names the command,
 * what is wrong and, for a mistyped option or value, the closest valid one.
 * Thrown as ERR_USAGE (exit 2).
 */
export function parseCommandArgs<T extends Record<string, OptionSpec>>(
  args: string[], options: T, usage: string,
): { values: { [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean }; positionals: string[] } {
  const cmd = commandOf(usage);
  const fail = (msg: string): never => { throw new CountersignError('ERR_USAGE', `${cmd}: ${msg} (usage: ${usage}; see \`${cmd} --help\`)`); };
  const spec = Object.fromEntries(Object.entries(options).map(([k, { choices: _, ...o }]) => [k, o]));
  let r: ReturnType<typeof parseArgs>;
  try {
    r = parseArgs({ args, options: spec as never, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    const named = /'([^']+)'/.exec(e.message)?.[1] ?? '';
    const long = named.split(', ').pop()?.replace(/ <value>$/, '') ?? named;
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') fail(`unknown option ${long}${didYouMean(long, Object.keys(options).map((k) => `--${k}`), '')}`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') fail(/argument missing/.test(e.message) ? `option ${long} needs a value` : `option ${long} takes no value`);
    fail(e.message.split('.')[0]);
  }
  for (const [k, o] of Object.entries(options)) {
    const v = r!.values[k];
    if (o.choices && typeof v === 'string' && !o.choices.includes(v)) {
      throw new CountersignError('ERR_USAGE', `${cmd}: --${k} "${v}" is not one of ${o.choices.join(', ')}${didYouMean(v, o.choices)}`);
    }
  }
  return r! as never;
}
