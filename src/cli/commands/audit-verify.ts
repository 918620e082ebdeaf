/**
 * `countersign audit verify FILE...`: walks the hash chain of audit files (in
 * order: a rotated file first, then its successor, whose first record must
 * continue it). Exit 0 when every chain holds; 1 naming the first broken line.
 */
import type { CliIo, Command } from '../command.js';
import { AUDIT_GENESIS, verifyAuditFile } from '../../observe/index.js';

const USAGE = 'countersign audit verify FILE...';
const HELP = `usage: ${USAGE}
  FILE  an audit log (audit.file); several files are checked as one chain, oldest first
Exits 0 when each record's "prev" is the SHA-256 of the line before it; 1 naming
the first line where it is not (the line before it was changed, or lines were
removed or inserted there). Lines removed from the very end cannot be seen.`;

export const command: Command = {
  name: 'audit verify',
  summary: 'check the hash chain of audit log files',
  usage: USAGE,
  help: HELP,
  async run(args: string[], io: CliIo): Promise<number> {
    if (args.includes('--help') || args.includes('-h')) { io.out(HELP); return 0; }
    const bad = args.find((a) => a.startsWith('-'));
    if (args.length === 0 || bad) {
      io.err(`countersign audit verify: ${bad ? `unknown option "${bad}"` : 'missing FILE'}`);
      io.err(`usage: ${USAGE}`);
      return 2;
    }
    let expect: string | undefined;
    for (const file of args) {
      let r;
      try {
        r = await verifyAuditFile(file, expect);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        io.err(`countersign audit verify: ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
        return 1;
      }
      if (!r.ok) {
        io.err(`${file}:${r.broken!.line}: broken chain: ${r.broken!.reason} (${r.records} record${r.records === 1 ? '' : 's'} before it verify)`);
        return 1;
      }
      const start = r.startsFrom === undefined ? 'empty' : r.startsFrom === AUDIT_GENESIS ? 'starts a chain' : `continues a chain from ${r.startsFrom}`;
      io.out(`${file}: ${r.records} record${r.records === 1 ? '' : 's'}, chain intact (${start}); last hash ${r.head ?? '-'}`);
      if (r.head) expect = r.head;
    }
    return 0;
  },
};
