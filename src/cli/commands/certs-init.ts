/**
 * `countersign certs init [--out DIR] [--force]`: a complete development PKI
 * in one go. Refuses to overwrite an existing one: regenerating the CAs would
 * silently invalidate every certificate already handed out.
 */
import { readdir } from 'node:fs/promises';
import { generateDevPki, writeDevPki } from '../../pki/dev/index.js';
import { didYouMean } from '../../did-you-mean.js';
import type { CliIo, Command } from '../command.js';

export const DEFAULT_CERTS_DIR = 'certs';

const USAGE = 'countersign certs init [--out DIR] [--force]';
const HELP = `usage: ${USAGE}\n  --out DIR  where to write (default: ${DEFAULT_CERTS_DIR})\n  --force    overwrite an existing PKI in DIR`;

interface Parsed { out: string; force: boolean }

function parse(args: string[]): Parsed | string {
  let out = DEFAULT_CERTS_DIR;
  let force = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--force') force = true;
    else if (a === '--out') {
      const v = args[++i];
      if (v === undefined || v === '') return '--out needs a directory';
      out = v;
    } else if (a.startsWith('--out=')) {
      out = a.slice('--out='.length);
      if (out === '') return '--out needs a directory';
    } else return `unexpected argument "${a}"${a.startsWith('-') ? didYouMean(a.split('=')[0], ['--out', '--force'], '') : ''}`;
  }
  return { out, force };
}

/** Certificates or keys already in `dir` (empty when it does not exist). */
async function existingPkiFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith('.crt') || f.endsWith('.key')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export const command: Command = {
  name: 'certs init',
  summary: 'write a development PKI (CAs, edge, clients, delegation CA, backend) to a directory',
  usage: USAGE,
  help: HELP,
  async run(args: string[], io: CliIo): Promise<number> {
    if (args.includes('--help') || args.includes('-h')) { io.out(HELP); return 0; }
    const parsed = parse(args);
    if (typeof parsed === 'string') { io.err(`countersign certs init: ${parsed}`); io.err(`usage: ${USAGE}`); return 2; }
    try {
      const existing = await existingPkiFiles(parsed.out);
      if (existing.length && !parsed.force) {
        io.err(`countersign certs init: ${parsed.out} already holds a PKI (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}); pass --force to overwrite it — certificates issued from the old CAs will stop verifying`);
        return 1;
      }
      const files = await writeDevPki(await generateDevPki(), parsed.out);
      const width = Math.max(...files.map((f) => f.path.length));
      for (const f of files) io.out(`${f.path.padEnd(width)}  ${f.description}${f.secret ? ' (0600)' : ''}`);
      io.out(`wrote ${files.length} files to ${parsed.out}; keys are private — never commit them`);
      return 0;
    } catch (err) {
      io.err(`countersign certs init: ${(err as Error).message}`);
      return 1;
    }
  },
};
