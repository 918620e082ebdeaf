import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { isCountersignError } from '../../errors.js';
import { createLogger } from '../../observe/index.js';
import { startProxy } from '../../proxy.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';
import { loadConfigForCli } from '../load-config-for-cli.js';
import { onShutdownSignals } from '../signals.js';
import { WORKER_SLOT_ENV } from '../workers/messages.js';

export const command: Command = {
  name: 'start',
  summary: 'run the proxy from a config file',
  usage: 'countersign start --config FILE [--log-level LEVEL] [--pretty]',
  async run(args, io) {
    const { values } = parseCommandArgs(args, {
      config: { type: 'string', short: 'c' }, 'log-level': { type: 'string' }, pretty: { type: 'boolean' },
    }, this.usage);
    if (!values.config) { io.err(`usage: ${this.usage}`); return 2; }
    const loaded = await loadConfigForCli(values.config, io);
    if (!loaded) return 1;
    const { config } = loaded;
    const level = (values['log-level'] ?? config.log.level) as typeof config.log.level;
    const logger = createLogger({ level, pretty: values.pretty ?? config.log.pretty });

    if (cluster.isWorker) {
      const { runWorker } = await import('../workers/worker.js');
      process.exit(await runWorker(config, logger.child({ worker: Number(process.env[WORKER_SLOT_ENV]), pid: process.pid }), io));
    }
    const workers = config.workers === 'auto' ? availableParallelism() : config.workers;
    if (workers > 1) {
      const { runPrimary } = await import('../workers/primary.js');
      const code = await runPrimary({
        workers, logger, graceMs: config.timeouts.shutdownGrace,
        announce: (listen) => logger.info({ listen, workers, routes: config.routes.length, upstreams: Object.keys(config.upstreams) }, 'countersign listening'),
      });
      process.exit(code);
    }

    let proxy;
    try {
      proxy = await startProxy({ config, logger });
    } catch (err) {
      io.err(isCountersignError(err) ? err.message : `cannot start: ${(err as Error).message}`);
      logger.flush?.();
      return 1;
    }
    const p = proxy;
    return new Promise<number>((resolve) => {
      onShutdownSignals({
        onStop: async () => { await p.stop(); resolve(0); },
        onReload: () => { p.reload().catch((err: Error) => logger.error({ reason: err.message }, 'reload failed')); },
        log: (msg) => logger.info({ outcome: 'signal' }, msg),
      });
    });
  },
};
