/**
 * `countersign identity of FILE`: the identity policies are keyed on — the
 * lowercase hex SHA-256 of the certificate's DER SubjectPublicKeyInfo, exactly
 * what `kes tool identity of` prints.
 */
import { readFile } from 'node:fs/promises';
import { isCountersignError } from '../../errors.js';
import { identityOf, certificatesDer } from '../../pki/index.js';
import type { CliIo, Command } from '../command.js';

const USAGE = 'countersign identity of FILE';
const HELP = `usage: ${USAGE}\n  FILE  a certificate, PEM or DER (the first certificate of a PEM bundle)`;

export const command: Command = {
  name: 'identity of',
  summary: "print a certificate's identity (hex SHA-256 of its public key, as `kes tool identity of`)",
  usage: USAGE,
  help: HELP,
  async run(args: string[], io: CliIo): Promise<number> {
    if (args.includes('--help') || args.includes('-h')) { io.out(HELP); return 0; }
    if (args.length !== 1 || args[0].startsWith('-')) {
      io.err(`countersign identity of: ${args.length === 0 ? 'missing FILE' : `expected one FILE, got ${args.map((a) => `"${a}"`).join(' ')}`}`);
      io.err(`usage: ${USAGE}`);
      return 2;
    }
    const file = args[0];
    try {
      const data = await readFile(file);
      io.out(identityOf(certificatesDer(data, file)[0]));
      return 0;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // PEM errors already name the file
      const message = e.code === 'ENOENT' ? `${file}: no such file` : isCountersignError(err, 'ERR_PEM_INVALID') ? e.message : `${file}: ${e.message}`;
      io.err(`countersign identity of: ${message}`);
      return 1;
    }
  },
};
