import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { LOG_LEVELS } from '../../config/index.js';
import { isCountersignError } from '../../errors.js';
import { AuditLog, createLogger, reopenFiles, subscribeAudit } from '../../observe/index.js';
import { startProxy } from '../../proxy.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';
import { loadConfigForCli } from '../load-config-for-cli.js';
import { onReopenSignal, onShutdownSignals } from '../signals.js';
import { startLocalAdmin } from '../admin.js';
import { WORKER_SLOT_ENV } from '../workers/messages.js';
import { reloadFromFile } from '../config-reload.js';
import { writePidFile } from '../pid-file.js';

export const command: Command = {
  name: 'start',
  summary: 'run the proxy from a config file',
  usage: 'countersign start [--config] FILE [--log-level LEVEL] [--pretty]',
  help: `usage: countersign start [--config] FILE [--log-level LEVEL] [--pretty]
  --config, -c FILE  the configuration (or give FILE alone)
  --log-level LEVEL  ${LOG_LEVELS.join(', ')} (default: log.level of the config)
  --pretty           human-readable logs instead of JSON lines
Refuses to start on anything \`countersign check\` refuses. SIGHUP (or
\`countersign reload\`) re-reads the config file and applies it if \`check\`
would pass it (routes, upstreams, edge.deny; other keys need a restart), and
re-reads certificate, CA and CRL files; SIGTERM or Ctrl-C stops gracefully.
Writes the process id to pidFile (default: beside the config, FILE.pid).`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      config: { type: 'string', short: 'c' }, 'log-level': { type: 'string', choices: LOG_LEVELS }, pretty: { type: 'boolean' },
    }, this.usage);
    const files = [...(values.config ? [values.config] : []), ...positionals];
    if (files.length !== 1) {
      io.err(`countersign start: ${files.length === 0 ? 'missing the config file' : `expected one config file, got ${files.map((f) => `"${f}"`).join(' ')}`} (usage: ${this.usage})`);
      return 2;
    }
    const loaded = await loadConfigForCli(files[0], io, { printWarnings: false });
    if (!loaded) return 1;
    const { config } = loaded;
    const source = { file: loaded.file, digest: loaded.digest, loadedAt: loaded.loadedAt };
    const level = (values['log-level'] ?? config.log.level) as typeof config.log.level;
    const logger = createLogger({ level, pretty: values.pretty ?? config.log.pretty, file: config.log.file });
    // what `check` prints as warnings (the primary logs them once; its workers do not repeat them)
    if (!cluster.isWorker) for (const w of loaded.warnings) logger.warn({ reason: w }, 'config warning');

    // the audit log belongs to one process: this one, or with workers the primary (workers send it their records)
    let audit: AuditLog | undefined;
    if (config.audit && !cluster.isWorker) {
      try { audit = AuditLog.open({ file: config.audit.file, logger }); } catch (err) {
        io.err(isCountersignError(err) ? err.message : `cannot start: ${(err as Error).message}`);
        logger.flush?.();
        return 1;
      }
    }
    if (cluster.isWorker) {
      const { runWorker } = await import('../workers/worker.js');
      process.exit(await runWorker(config, logger.child({ worker: Number(process.env[WORKER_SLOT_ENV]), pid: process.pid }), io, source));
    }
    const workers = config.workers === 'auto' ? availableParallelism() : config.workers;
    if (workers > 1) {
      const { runPrimary } = await import('../workers/primary.js');
      const code = await runPrimary({
        workers, logger, admin: config.admin?.listen, config, file: loaded.file, pidFile: config.pidFile, audit,
        // the one ACME manager runs in the primary; the workers answer its challenges on their listeners
        acme: config.edge.acme ? async (publishChallenge) => {
          const { acmeManagerFor } = await import('../../edge/index.js');
          return acmeManagerFor(config, logger, { httpListen: undefined, publishChallenge });
        } : undefined,
        announce: (listen, listeners) => logger.info({ listen, listeners, workers, routes: config.routes.length, upstreams: Object.keys(config.upstreams) }, 'countersign listening'),
      });
      process.exit(code);
    }

    const a0 = audit;
    const stopAudit = a0 ? subscribeAudit((e) => a0.append({ ...e, pid: process.pid })) : undefined;
    const closeAudit = async () => { stopAudit?.(); await audit?.close(); };
    // before the "listening" line: whoever waits for it finds the pid file
    const removePidFile = writePidFile(config.pidFile, logger);
    let proxy;
    try {
      proxy = await startProxy({ config, logger, source });
    } catch (err) {
      removePidFile();
      await closeAudit();
      io.err(isCountersignError(err) ? err.message : `cannot start: ${(err as Error).message}`);
      logger.flush?.();
      return 1;
    }
    const p = proxy;
    const reload = () => reloadFromFile(loaded.file, p, logger);
    let admin;
    try {
      admin = await startLocalAdmin(config, p, logger, reload);
    } catch (err) {
      await p.stop(0);
      removePidFile();
      await closeAudit();
      io.err(isCountersignError(err) ? err.message : `cannot start: ${(err as Error).message}`);
      logger.flush?.();
      return 1;
    }
    const a = admin;
    onReopenSignal(reopenFiles, logger);
    return new Promise<number>((resolve) => {
      onShutdownSignals({
        // the admin listener outlives the drain, so a balancer sees /readyz answer 503
        onStop: async () => { await p.stop(); await a?.close(); await closeAudit(); removePidFile(); resolve(0); },
        onReload: () => { void reload(); },
        log: (msg) => logger.info({ outcome: 'signal' }, msg),
      });
    });
  },
};
