/**
 * `countersign reload`: has the running proxy re-read its config file and its
 * certificate, CA and CRL files (what SIGHUP does), and prints the outcome.
 * Through the admin listener when `admin.listen` is set (the proxy validates
 * the config and answers what it changed, or every problem); otherwise the
 * config is validated here as `check` does, then SIGHUP goes to the pid in
 * `pidFile`. Exit 1 when the reload was refused or a file failed (the old
 * state keeps serving), 2 on usage errors.
 */
import type { Command } from '../command.js';
import { adminRequest } from '../admin-request.js';
import { parseCommandArgs } from '../parse-args.js';
import { loadConfigForCli } from '../load-config-for-cli.js';
import { readPidFile } from '../pid-file.js';

interface Outcome {
  ok: boolean; outcome?: string; changes?: string; reloaded?: string[]; failed?: { id: string; message: string }[];
  reason?: string; problems?: string[]; worker?: number; error?: string; workers?: Outcome[];
}

export const command: Command = {
  name: 'reload',
  summary: 'have the running proxy re-read its config and certificate files (what SIGHUP does)',
  usage: 'countersign reload [--config] FILE [--json]',
  help: `usage: countersign reload [--config] FILE [--json]
  --config, -c FILE  the configuration the proxy runs with (or give FILE alone)
  --json             print the admin listener's answer as JSON
With admin.listen set, asks the proxy (POST /reload) and prints what changed,
or every problem that refused the reload. Without it, validates FILE as
\`countersign check\` does and sends SIGHUP to the pid in pidFile (the proxy
logs the outcome). Exit 0 when applied, 1 when refused or failed, 2 on usage.`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } }, this.usage);
    const files = [...(values.config ? [values.config] : []), ...positionals];
    if (files.length !== 1) { io.err(`usage: ${this.usage}`); return 2; }
    const found = await loadConfigForCli(files[0], io, { checkFiles: false });
    if (!found) { io.err('reload not sent: the running config keeps serving'); return 1; }
    const admin = found.config.admin;
    if (!admin) return signal(files[0], found.config.pidFile, found.file, io);
    let r;
    try {
      r = await adminRequest(admin.listen, '/reload', 'POST', 60_000);
    } catch (err) {
      io.err(`admin ${admin.listen}: ${(err as Error).message} (is countersign running with this config?)`);
      return 1;
    }
    const outcome = r.body as Outcome;
    if (values.json) { io.out(JSON.stringify(outcome, null, 2)); return outcome.ok ? 0 : 1; }
    if (outcome.workers) {
      if (outcome.changes) io.out(`config: ${outcome.changes}`);
      for (const p of outcome.problems ?? []) io.err(`  ${p}`);
      if (outcome.reason && !outcome.workers.length) io.err(outcome.reason);
    }
    const parts = outcome.workers ?? [outcome];
    for (const p of parts) {
      const who = p.worker !== undefined ? `worker ${p.worker}: ` : '';
      if (p.error) { io.err(`${who}${p.error}`); continue; }
      if (p.outcome === 'failed' && p.problems) {
        io.err(`${who}reload refused; the running config keeps serving:`);
        for (const x of p.problems) io.err(`  ${x}`);
        continue;
      }
      io.out(`${who}reload ${p.outcome ?? (p.ok ? 'ok' : 'failed')}${p.changes ? `; config: ${p.changes}` : ''}${p.reloaded?.length ? `; reloaded ${p.reloaded.join(', ')}` : '; no file changed'}`);
      for (const f of p.failed ?? []) io.err(`${who}refused ${f.id}: ${f.message} (the previous one keeps serving)`);
      if (p.reason) io.err(`${who}${p.reason}`);
    }
    return outcome.ok ? 0 : 1;
  },
};

/** No admin listener: validate as `check` does, then SIGHUP to the pid file's process. */
async function signal(given: string, pidFile: string | undefined, file: string, io: Parameters<Command['run']>[1]): Promise<number> {
  const pid = pidFile ? readPidFile(pidFile) : undefined;
  if (pid === undefined) {
    io.err(`${file}: no admin.listen configured and no pid in ${pidFile ?? 'pidFile'} (is countersign running with this config?); otherwise send SIGHUP to the countersign process (e.g. systemctl reload countersign)`);
    return 1;
  }
  // what the proxy would refuse is refused here, with every problem, before it is disturbed
  const checked = await loadConfigForCli(given, io);
  if (!checked) { io.err('reload not sent: the running config keeps serving'); return 1; }
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    io.err(`${pidFile}: cannot signal pid ${pid} (${code === 'ESRCH' ? 'no such process: a stale pid file' : code ?? (err as Error).message})`);
    return 1;
  }
  io.out(`reload: sent SIGHUP to countersign (pid ${pid}, from ${pidFile}); it logs what changed, or why it refused`);
  return 0;
}
