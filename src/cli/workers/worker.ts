/**
 * One worker process of `countersign start` with `workers` > 1: runs the whole
 * proxy on the listener the primary shares, with the primary's session-ticket
 * keys, and stops or reloads when the primary says so.
 */
import { parseConfigText, type Config } from '../../config/index.js';
import { isCountersignError } from '../../errors.js';
import type { Logger } from '../../observe/index.js';
import { startProxy, type RunningProxy } from '../../proxy.js';
import type { CliIo } from '../command.js';
import { isPrimaryMessage, type ConfigText, type PrimaryMessage, type WorkerMessage, type WorkerQuery } from './messages.js';
import { reopenFiles, subscribeAudit } from '../../observe/index.js';
import { acmeFollowerFor } from '../../edge/index.js';
import { onReopenSignal, reopenAndLog } from '../signals.js';

const INIT_TIMEOUT_MS = 10_000;

export async function runWorker(config: Config, logger: Logger, io: CliIo, source?: { file: string; digest: string; loadedAt: Date }): Promise<number> {
  const send = (m: WorkerMessage) => process.send!(m);
  let init: Extract<PrimaryMessage, { type: 'countersign:init' }>;
  try {
    init = await firstInit();
  } catch (err) {
    io.err((err as Error).message);
    return 1;
  }
  // a worker started after a reload serves the config its siblings serve, not the file's of now
  if (init.config) {
    try {
      ({ config, source } = parseConfigFrom(init.config));
    } catch (err) {
      io.err(isCountersignError(err) ? err.message : (err as Error).message);
      return 1;
    }
  }
  // ACME: the primary's manager sends certificates and challenges; the follower serves them
  const acme = await acmeFollowerFor(config, logger);
  if (acme && init.acme) {
    acme.update(init.acme.certificates);
    for (const c of init.acme.challenges) acme.challenge(c);
  }
  process.on('message', (m: unknown) => {
    if (!isPrimaryMessage(m) || m.type !== 'countersign:acme') return;
    if (m.certificates) acme?.update(m.certificates);
    if (m.challenge) acme?.challenge(m.challenge);
    if (process.connected) send({ type: 'countersign:answer', id: m.id, result: true });
  });
  // Until the proxy runs, a stop from the primary (it is itself being stopped) ends us at once.
  const early = (m: unknown) => { if (isPrimaryMessage(m) && m.type === 'countersign:stop') process.exit(0); };
  process.on('message', early);
  // Ctrl-C reaches every process in the terminal's group; the primary answers it for all.
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  // audit records go to the primary, which keeps the one hash chain
  if (config.audit) subscribeAudit((event) => { if (process.connected) send({ type: 'countersign:audit', event: { ...event, pid: process.pid } }); });
  let proxy: RunningProxy;
  try {
    proxy = await startProxy({ config, logger, ticketKeys: Buffer.from(init.ticketKeys, 'base64'), announce: false, source, acme });
  } catch (err) {
    io.err(isCountersignError(err) ? err.message : `cannot start: ${(err as Error).message}`);
    return 1;
  }
  process.removeListener('message', early);
  send({ type: 'countersign:ready', listen: `${proxy.address.host}:${proxy.address.port}`, listeners: proxy.addresses() });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      proxy.stop().then(() => resolve(0), () => resolve(1));
    };
    process.on('message', (m: unknown) => {
      if (!isPrimaryMessage(m)) return;
      if (m.type === 'countersign:stop') stop();
      else if (m.type === 'countersign:apply') {
        // the primary validated the file; the text is parsed again here (schema only), then applied
        let next;
        try { next = parseConfigFrom(m.config); } catch (err) {
          if (process.connected) send({ type: 'countersign:answer', id: m.id, result: { ok: false, outcome: 'failed', reason: (err as Error).message } });
          return;
        }
        proxy.reload(next).then((result) => { if (process.connected) send({ type: 'countersign:answer', id: m.id, result }); });
      }
      else if (m.type === 'countersign:reopen') void reopenAndLog(reopenFiles, logger, 'reopen (from the primary)');
      else if (m.type === 'countersign:query') {
        answer(m.what).then(
          (result) => { if (process.connected) send({ type: 'countersign:answer', id: m.id, result }); },
          (err: Error) => { if (process.connected) send({ type: 'countersign:answer', id: m.id, error: err.message }); },
        );
      }
    });
    const answer = async (what: WorkerQuery): Promise<unknown> => {
      if (what === 'ready') return proxy.ready();
      if (what === 'status') return proxy.status();
      return proxy.metrics ? proxy.metrics.json() : [];
    };
    // SIGUSR1 sent to a worker itself (or to the whole group) reopens its files too
    onReopenSignal(reopenFiles, logger);
    // SIGTERM to one worker (or to the whole group, as systemd does) stops it gracefully.
    process.on('SIGTERM', stop);
    // A primary that dies takes its workers with it: node:cluster exits a worker at once
    // when the IPC channel drops (test/e2e/workers-share-the-listener.test.ts).
  });
}

function firstInit(): Promise<Extract<PrimaryMessage, { type: 'countersign:init' }>> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { process.removeListener('message', on); reject(new Error(`worker: no init message from the primary within ${INIT_TIMEOUT_MS} ms`)); }, INIT_TIMEOUT_MS);
    const on = (m: unknown) => {
      if (!isPrimaryMessage(m) || m.type !== 'countersign:init') return;
      clearTimeout(t);
      process.removeListener('message', on);
      resolve(m);
    };
    process.on('message', on);
    process.send!({ type: 'countersign:hello' } satisfies WorkerMessage);
  });
}

function parseConfigFrom(c: ConfigText): { config: Config; source: { file: string; digest: string; loadedAt: Date } } {
  return { config: parseConfigText(c.text, c.file), source: { file: c.file, digest: c.digest, loadedAt: new Date(c.loadedAt) } };
}
