/**
 * The `countersign` command. The only code that reads process.argv and prints
 * for people; everything it calls is a library.
 */
import { isCountersignError } from '../errors.js';
import type { CliIo, Command } from './command.js';
// Commands are loaded on use: `identity of` should not pay for the proxy's
// dependencies (undici, acme-client, zod) at start-up.
const COMMANDS: { name: string; load: () => Promise<{ command: Command }> }[] = [
  { name: 'start', load: () => import('./commands/start.js') },
  { name: 'check', load: () => import('./commands/check.js') },
  { name: 'demo', load: () => import('./commands/demo.js') },
  { name: 'certs init', load: () => import('./commands/certs-init.js') },
  { name: 'certs status', load: () => import('./commands/certs-status.js') },
  { name: 'reload', load: () => import('./commands/reload.js') },
  { name: 'identity of', load: () => import('./commands/identity-of.js') },
  { name: 'inspect', load: () => import('./commands/inspect.js') },
];

const io: CliIo = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

async function help(): Promise<void> {
  io.out('countersign — a reverse TLS proxy that vouches for its clients\n\nusage: countersign <command> [options]\n');
  for (const c of COMMANDS) { const { command } = await c.load(); io.out(`  ${command.usage.padEnd(58)} ${command.summary}`); }
  io.out('\nDocs: README.md and docs/ in the package.');
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') { await help(); return argv.length === 0 ? 2 : 0; }
  if (argv[0] === '--version' || argv[0] === '-V') {
    // what a bug report needs: ours, the runtime's, and the TLS library's version
    io.out(`countersign ${(await import('../version.js')).VERSION} (node ${process.version}, OpenSSL ${process.versions.openssl})`);
    return 0;
  }
  // Longest command name first: "certs init" before a hypothetical "certs".
  const sorted = [...COMMANDS].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  for (const c of sorted) {
    const words = c.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return (await c.load()).command.run(argv.slice(words.length), io);
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
