/**
 * One worker process of `countersign start` with `workers` > 1: runs the whole
 * proxy on the listener the primary shares, with the primary's session-ticket
 * keys, and stops or reloads when the primary says so.
 */
import { formatHostPort, parseConfigText, type Config } from '../../config/index.js';
import { isCountersignError } from '../../errors.js';
import type { Logger } from '../../observe/index.js';
import { startProxy, type RunningProxy } from '../../proxy.js';
import type { CliIo } from '../command.js';
import {
  PRIMARY_NOTICE_TYPES, PRIMARY_REQUEST_TYPES,
  type AnswerTo, type ConfigText, type InitPayload, type PrimaryNotice, type PrimaryRequest, type QueryAnswers, type WorkerNotice, type WorkerQuery, type WorkerRequest,
} from './messages.js';
import { IpcChannel, unexpectedMessage, type IpcPort } from './ipc-channel.js';
import { reopenFiles, subscribeAudit } from '../../observe/index.js';
import { acmeFollowerFor } from '../../edge/index.js';
import { onReopenSignal, reopenAndLog } from '../signals.js';

/** how long a worker waits for its InitPayload after hello */
const INIT_TIMEOUT_MS = 10_000;

type ToPrimary = IpcChannel<WorkerRequest, WorkerNotice, PrimaryRequest, PrimaryNotice>;

/** This process's end of the channel to the primary. */
const primaryPort: IpcPort = {
  send: (message) => { process.send!(message); },
  isConnected: () => process.connected,
  onMessage: (listener) => { process.on('message', listener); return () => { process.removeListener('message', listener); }; },
};

export async function runWorker(config: Config, logger: Logger, io: CliIo, source?: { file: string; digest: string; loadedAt: Date }): Promise<number> {
  const primary: ToPrimary = new IpcChannel({
    port: primaryPort,
    takes: { requests: PRIMARY_REQUEST_TYPES, notices: PRIMARY_NOTICE_TYPES },
    peer: () => ({ peer: 'primary' }),
    timeoutMs: INIT_TIMEOUT_MS,
    logger,
  });
  /** the proxy, once it runs; until then a stop ends the process and other orders are refused */
  let proxy: RunningProxy | undefined;
  let stopping = false;
  let resolveExit: (code: number) => void = () => {};
  const exited = new Promise<number>((resolve) => { resolveExit = resolve; });
  const stop = () => {
    if (!proxy) process.exit(0); // the primary is being stopped while this worker starts
    if (stopping) return;
    stopping = true;
    proxy.stop().then(() => resolveExit(0), () => resolveExit(1));
  };
  const running = (): RunningProxy => {
    if (!proxy) throw new Error('the proxy is not running yet');
    return proxy;
  };
  const query = async (what: WorkerQuery): Promise<QueryAnswers[WorkerQuery]> => {
    const p = running();
    switch (what) {
      case 'ready': return p.ready();
      case 'status': return p.status();
      case 'metrics': return p.metrics ? p.metrics.json() : [];
      default: throw new Error(`unknown query ${String(what)}`);
    }
  };
  // set once the config is known; ACME orders from the primary arrive from the start
  let acme: Awaited<ReturnType<typeof acmeFollowerFor>>;
  primary.serve({
    request: async (request): Promise<AnswerTo<PrimaryRequest>> => {
      const { type } = request;
      switch (type) {
        case 'countersign:acme':
          if (request.certificates) acme?.update(request.certificates);
          if (request.challenge) acme?.challenge(request.challenge);
          return true;
        case 'countersign:apply': {
          // the primary validated the file; the text is parsed again here (schema only), then applied
          let next;
          try { next = parseConfigFrom(request.config); } catch (err) {
            return { ok: false, outcome: 'failed', reason: (err as Error).message };
          }
          return running().reload(next);
        }
        case 'countersign:query': return query(request.what);
        default: throw unexpectedMessage(type);
      }
    },
    notice: (notice) => {
      const { type } = notice;
      switch (type) {
        case 'countersign:stop': stop(); return;
        case 'countersign:reopen': void reopenAndLog(reopenFiles, logger, 'reopen (from the primary)'); return;
        default: throw unexpectedMessage(type);
      }
    },
  });

  let init: InitPayload;
  try {
    init = await primary.request({ type: 'countersign:hello' });
  } catch (err) {
    io.err(`worker: no init message from the primary: ${(err as Error).message}`);
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
  acme = await acmeFollowerFor(config, logger);
  if (acme && init.acme) {
    acme.update(init.acme.certificates);
    for (const c of init.acme.challenges) acme.challenge(c);
  }
  // Ctrl-C reaches every process in the terminal's group; the primary answers it for all.
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  // audit records go to the primary, which keeps the one hash chain
  if (config.audit) subscribeAudit((event) => { primary.notify({ type: 'countersign:audit', event: { ...event, pid: process.pid } }); });
  try {
    proxy = await startProxy({ config, logger, ticketKeys: Buffer.from(init.ticketKeys, 'base64'), announce: false, source, acme });
  } catch (err) {
    io.err(isCountersignError(err) ? err.message : `cannot start: ${(err as Error).message}`);
    return 1;
  }
  primary.notify({ type: 'countersign:ready', listen: formatHostPort(proxy.address), listeners: proxy.addresses() });
  // SIGUSR1 sent to a worker itself (or to the whole group) reopens its files too
  onReopenSignal(reopenFiles, logger);
  // SIGTERM to one worker (or to the whole group, as systemd does) stops it gracefully.
  process.on('SIGTERM', stop);
  // A primary that dies takes its workers with it: node:cluster exits a worker at once
  // when the IPC channel drops (test/e2e/workers-share-the-listener.test.ts).
  return exited;
}

function parseConfigFrom(c: ConfigText): { config: Config; source: { file: string; digest: string; loadedAt: Date } } {
  return { config: parseConfigText(c.text, c.file), source: { file: c.file, digest: c.digest, loadedAt: new Date(c.loadedAt) } };
}
