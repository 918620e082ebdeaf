/**
 * `countersign reload`: asks the running proxy, through its admin listener, to
 * do what SIGHUP does (re-read certificate, CA and CRL files) and prints the
 * outcome; exit 1 when a file was refused (the old state keeps serving).
 */
import type { Command } from '../command.js';
import { adminRequest } from '../admin-request.js';
import { parseCommandArgs } from '../parse-args.js';
import { loadConfigForCli } from '../load-config-for-cli.js';

interface Outcome { ok: boolean; outcome?: string; reloaded?: string[]; failed?: { id: string; message: string }[]; reason?: string; worker?: number; error?: string; workers?: Outcome[] }

export const command: Command = {
  name: 'reload',
  summary: 'reload the running proxy\'s certificates through its admin listener (what SIGHUP does)',
  usage: 'countersign reload --config FILE [--json]',
  async run(args, io) {
    const { values } = parseCommandArgs(args, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } }, this.usage);
    if (!values.config) { io.err(`usage: ${this.usage}`); return 2; }
    const loaded = await loadConfigForCli(values.config, io, { checkFiles: false });
    if (!loaded) return 1;
    const admin = loaded.config.admin;
    if (!admin) {
      io.err(`${loaded.file}: no admin.listen configured; send SIGHUP to the countersign process instead (e.g. systemctl reload countersign)`);
      return 1;
    }
    let r;
    try {
      r = await adminRequest(admin.listen, '/reload', 'POST', 60_000);
    } catch (err) {
      io.err(`admin ${admin.listen}: ${(err as Error).message} (is countersign running with this config?)`);
      return 1;
    }
    const o = r.body as Outcome;
    if (values.json) { io.out(JSON.stringify(o, null, 2)); return o.ok ? 0 : 1; }
    const parts = o.workers ?? [o];
    for (const p of parts) {
      const who = p.worker !== undefined ? `worker ${p.worker}: ` : '';
      if (p.error) { io.err(`${who}${p.error}`); continue; }
      io.out(`${who}reload ${p.outcome ?? (p.ok ? 'ok' : 'failed')}${p.reloaded?.length ? `; reloaded ${p.reloaded.join(', ')}` : '; nothing changed'}`);
      for (const f of p.failed ?? []) io.err(`${who}refused ${f.id}: ${f.message} (the previous one keeps serving)`);
      if (p.reason) io.err(`${who}${p.reason}`);
    }
    return o.ok ? 0 : 1;
  },
};
