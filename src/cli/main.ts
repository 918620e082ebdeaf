/**
 * The `countersign` command. The only code that reads process.argv and prints
 * for people; everything it calls is a library.
 */
import { closestName } from '../did-you-mean.js';
import { isCountersignError } from '../errors.js';
import type { CliIo, Command } from './command.js';
// Commands are loaded on use: `identity of` should not pay for the proxy's
// dependencies (acme-client, zod) at start-up.
const COMMANDS: { name: string; load: () => Promise<{ command: Command }> }[] = [
  { name: 'start', load: () => import('./commands/start.js') },
  { name: 'check', load: () => import('./commands/check.js') },
  { name: 'demo', load: () => import('./commands/demo.js') },
  { name: 'certs init', load: () => import('./commands/certs-init.js') },
  { name: 'certs status', load: () => import('./commands/certs-status.js') },
  { name: 'reload', load: () => import('./commands/reload.js') },
  { name: 'identity of', load: () => import('./commands/identity-of.js') },
  { name: 'inspect', load: () => import('./commands/inspect.js') },
  { name: 'mint', load: () => import('./commands/mint.js') },
  { name: 'audit verify', load: () => import('./commands/audit-verify.js') },
];

const io: CliIo = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

async function help(): Promise<void> {
  io.out('countersign — a reverse TLS proxy that vouches for its clients\n\nusage: countersign <command> [options]\n');
  for (const c of COMMANDS) { const { command } = await c.load(); io.out(`  ${command.usage.padEnd(58)} ${command.summary}`); }
  io.out('\n`countersign help <command>` or `countersign <command> --help` shows its options.');
  io.out('Exit status: 0 success, 1 failure (e.g. a config with problems), 2 usage error.');
  io.out('Docs: README.md and docs/ in the package.');
}

/** The command named by the first words of argv, longest name first ("certs init" before a hypothetical "certs"). */
function findCommand(argv: string[]): { entry: (typeof COMMANDS)[number]; rest: string[] } | undefined {
  const sorted = [...COMMANDS].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  for (const c of sorted) {
    const words = c.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return { entry: c, rest: argv.slice(words.length) };
  }
  return undefined;
}

function unknownCommand(argv: string[]): number {
  // compare as many words as each command has: "certs stauts" → "certs status"
  let guess: string | undefined;
  for (const n of [2, 1]) {
    guess ??= closestName(argv.slice(0, n).join(' '), COMMANDS.map((c) => c.name).filter((name) => name.split(' ').length === n));
  }
  const hint = guess ? `; did you mean "${guess}"?` : '';
  io.err(`unknown command "${argv.join(' ')}"${hint} (run \`countersign help\`)`);
  return 2;
}

async function printCommandHelp(entry: (typeof COMMANDS)[number]): Promise<number> {
  const { command } = await entry.load();
  io.out(command.help ?? `usage: ${command.usage}`);
  io.out(`\n${command.summary}`);
  return 0;
}

/** --help or -h before a lone "--" */
function asksForHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || ((argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') && argv.length === 1)) { await help(); return argv.length === 0 ? 2 : 0; }
  if (argv[0] === '--version' || argv[0] === '-V') {
    // what a bug report needs: ours, the runtime's, and the TLS library's version
    io.out(`countersign ${(await import('../version.js')).VERSION} (node ${process.version}, OpenSSL ${process.versions.openssl})`);
    return 0;
  }
  if (argv[0] === 'help') {
    const found = findCommand(argv.slice(1));
    return found && found.rest.length === 0 ? printCommandHelp(found.entry) : unknownCommand(argv.slice(1));
  }
  const found = findCommand(argv);
  if (!found) return unknownCommand(argv);
  if (asksForHelp(found.rest)) return printCommandHelp(found.entry);
  return (await found.entry.load()).command.run(found.rest, io);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    io.err(isCountersignError(err) ? `${err.message}` : `countersign: ${(err as Error).stack ?? err}`);
    process.exitCode = isCountersignError(err, 'ERR_USAGE') ? 2 : 1;
  },
);
