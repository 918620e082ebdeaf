/**
 * The `countersign` command. The only code that reads process.argv and prints
 * for people; everything it calls is a library.
 */
import { isCountersignError } from '../errors.js';
import type { CliIo, Command } from './command.js';
import { command as start } from './commands/start.js';
import { command as check } from './commands/check.js';
import { command as demo } from './commands/demo.js';
import { command as certsInit } from './commands/certs-init.js';
import { command as identityOf } from './commands/identity-of.js';
import { command as inspect } from './commands/inspect.js';
import { command as certsStatus } from './commands/certs-status.js';

const COMMANDS: Command[] = [start, check, demo, certsInit, certsStatus, identityOf, inspect];

const io: CliIo = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

function help(): void {
  io.out('countersign — a reverse TLS proxy that vouches for its clients\n\nusage: countersign <command> [options]\n');
  for (const c of COMMANDS) io.out(`  ${c.usage.padEnd(58)} ${c.summary}`);
  io.out('\nDocs: README.md and docs/ in the package.');
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') { help(); return argv.length === 0 ? 2 : 0; }
  if (argv[0] === '--version') { io.out((await import('../version.js')).VERSION); return 0; }
  // Longest command name first: "certs init" before a hypothetical "certs".
  const sorted = [...COMMANDS].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  for (const c of sorted) {
    const words = c.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return c.run(argv.slice(words.length), io);
  }
  io.err(`unknown command "${argv.join(' ')}"; run \`countersign help\``);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    io.err(isCountersignError(err) ? `${err.message}` : `countersign: ${(err as Error).stack ?? err}`);
    process.exitCode = isCountersignError(err, 'ERR_USAGE') ? 2 : 1;
  },
);
