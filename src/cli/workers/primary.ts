/**
 * The primary process of `countersign start` with `workers` > 1, in the manner
 * of nginx's master: it forks the workers (node:cluster shares the listener
 * between them), hands them one set of session-ticket keys, replaces a worker
 * that dies, and turns signals into orders: SIGTERM/SIGINT stop every worker
 * gracefully (a second one kills them); SIGHUP (and POST /reload) re-reads the
 * config file, validates it once here, and has every worker apply the same
 * text — a worker that fails to apply it is replaced by one started with it.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { reopenFiles, type AuditLog, type Logger } from '../../observe/index.js';
import { startAdminServer, type AdminHandlers, type RunningAdminServer } from '../../observe/index.js';
import { aggregateMetrics, auditMetricsJson, METRICS_CONTENT_TYPE, type MetricsJson } from '../../observe/index.js';
import type { ProxyStatus } from '../../proxy.js';
import { onReopenSignal } from '../signals.js';
import {
  WORKER_NOTICE_TYPES, WORKER_REQUEST_TYPES, WORKER_SLOT_ENV,
  type AcmeSnapshot, type InitPayload, type PrimaryNotice, type PrimaryRequest, type QueryAnswers, type WorkerNotice, type WorkerQuery, type WorkerRequest,
} from './messages.js';
import { IpcChannel, unexpectedMessage, type IpcPort } from './ipc-channel.js';
import { shareCertificates, type AcmeManager, type ChallengeChange } from '../../edge/acme/index.js';
import { configChanges, type Config } from '../../config/index.js';
import type { ReloadOutcome } from '../../observe/index.js';
import { validateForReload } from '../config-reload.js';
import { oneAtATime, refuseReload, restartProblems } from '../../runtime/index.js';
import { writePidFile } from '../pid-file.js';
import { newListenersThatCannotBind } from './bind-check.js';
import type { ConfigText } from './messages.js';

export interface PrimaryOptions {
  workers: number;
  logger: Logger;
  /** logs the "countersign listening" line once every worker listens */
  announce(listen: string, listeners?: Record<string, string>): void;
  /** admin.listen: the primary runs the admin listener and asks its workers */
  admin?: string;
  /** audit: the primary writes the records its workers send */
  audit?: AuditLog;
  /**
   * edge.acme: builds the one ACME manager, run here once every worker listens;
   * its certificates and challenges go to the workers (acme-follower.ts).
   */
  acme?: (publishChallenge: (c: ChallengeChange) => Promise<void>) => Promise<AcmeManager | undefined>;
  /** the config the workers start with (its timeouts.shutdownGrace: the primary kills what is left this long after it), and its file (re-read on reload) */
  config: Config;
  file: string;
  /** written with the primary's pid once every worker listens */
  pidFile?: string;
}

/** how long a worker may take to answer the admin listener's question */
const QUERY_TIMEOUT_MS = 5_000;


/** A worker that lived at least this long restarts at once; one that died sooner backs off. */
const STABLE_MS = 10_000;
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** time the workers get beyond their grace period before they are killed */
const KILL_AFTER_GRACE_MS = 5_000;

type ToWorker = IpcChannel<PrimaryRequest, PrimaryNotice, WorkerRequest, WorkerNotice>;

interface Slot { worker?: Worker; channel?: ToWorker; ready: boolean; startedAt: number; backoffMs: number; timer?: NodeJS.Timeout }

/** A worker's end of the channel, as node:cluster gives it. */
function workerPort(worker: Worker): IpcPort {
  return {
    send: (message) => { worker.send(message); },
    isConnected: () => worker.isConnected(),
    onMessage: (listener) => { worker.on('message', listener); return () => { worker.removeListener('message', listener); }; },
  };
}

/** Runs until the workers are stopped; resolves with the process exit code. */
export function runPrimary(opts: PrimaryOptions): Promise<number> {
  const ticketKeys = randomBytes(48).toString('base64');
  /** the config every worker serves; its text once a reload replaced the file's (a new worker gets it) */
  let running = opts.config;
  let runningText: ConfigText | undefined;
  let removePidFile = () => {};
  const slots = new Map<number, Slot>();
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let exitCode = 0;
  let finish: (code: number) => void;
  const done = new Promise<number>((r) => { finish = r; });

  /** the notice to one slot's worker, if it is there */
  const tell = (slot: Slot | undefined, notice: PrimaryNotice) => { slot?.channel?.notify(notice); };
  const query = <W extends WorkerQuery>(slot: Slot, what: W): Promise<QueryAnswers[W]> => {
    if (!slot.channel) return Promise.reject(new Error('not running'));
    // AnswerTo of a generic `what` stays unresolved for the compiler; it is QueryAnswers[W] by its definition
    return slot.channel.request({ type: 'countersign:query', what }) as Promise<QueryAnswers[W]>;
  };

  // ACME: the manager runs here; workers get its certificates and pending challenges
  let acme: AcmeManager | undefined;
  const challenges = new Map<string, ChallengeChange>();
  const acmeSnapshot = (): AcmeSnapshot | undefined => (acme || challenges.size
    ? { certificates: acme ? shareCertificates(acme.certificates()) : [], challenges: [...challenges.values()] }
    : undefined);
  /** every worker that has its init (a later one gets the state in its init) */
  const initialized = new Map<Worker, ToWorker>();
  const toWorkers = async (update: Extract<PrimaryRequest, { type: 'countersign:acme' }>) => {
    await Promise.all([...initialized].filter(([, channel]) => channel.connected).map(([w, channel]) => channel.request(update).catch((err: Error) => {
      opts.logger.warn({ pid: w.process.pid, reason: err.message }, 'a worker did not take the ACME update');
    })));
  };
  const publishChallenge = async (c: ChallengeChange) => {
    const key = 'token' in c ? `http:${c.token}` : `tls:${c.domain}`;
    if (c.op.startsWith('set')) challenges.set(key, c); else challenges.delete(key);
    await toWorkers({ type: 'countersign:acme', challenge: c });
  };
  const alive = () => [...slots.values()].filter((s) => s.worker && !s.worker.isDead());

  const fork = (n: number) => {
    const slot = slots.get(n)!;
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(n) });
    const channel: ToWorker = new IpcChannel({
      port: workerPort(worker),
      takes: { requests: WORKER_REQUEST_TYPES, notices: WORKER_NOTICE_TYPES },
      peer: () => ({ worker: n, pid: worker.process.pid }),
      timeoutMs: QUERY_TIMEOUT_MS,
      logger: opts.logger,
    });
    Object.assign(slot, { worker, channel, ready: false, startedAt: Date.now(), timer: undefined });
    channel.serve({
      request: async (request): Promise<InitPayload> => {
        const { type } = request;
        switch (type) {
          case 'countersign:hello':
            initialized.set(worker, channel);
            return { ticketKeys, acme: acmeSnapshot(), config: runningText };
          default: throw unexpectedMessage(type);
        }
      },
      notice: (notice) => {
        const { type } = notice;
        switch (type) {
          case 'countersign:audit': opts.audit?.append(notice.event); return;
          case 'countersign:ready': onReady(n, slot, worker, notice.listen, notice.listeners); return;
          default: throw unexpectedMessage(type);
        }
      },
    });
    worker.on('exit', (code, signal) => { initialized.delete(worker); channel.close(); onExit(n, slot, worker, code, signal); });
  };

  const onReady = (n: number, slot: Slot, worker: Worker, listen: string, listeners?: Record<string, string>) => {
    slot.ready = true;
    if (phase === 'stopping') { tell(slot, { type: 'countersign:stop' }); return; }
    if (phase === 'running') { opts.logger.info({ worker: n, pid: worker.process.pid }, 'worker restarted'); return; }
    if ([...slots.values()].every((s) => s.ready)) { phase = 'running'; removePidFile = writePidFile(opts.pidFile, opts.logger); opts.announce(listen, listeners); startAcme(); }
  };

  const onExit = (n: number, slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.channel = undefined;
    if (phase === 'stopping') {
      if (code !== 0) exitCode = 1;
      if (alive().length === 0) finish(exitCode);
      return;
    }
    if (phase === 'starting' && !slot.ready) {
      // A worker that cannot start (port taken, bad key) says why on stderr; the others would fail alike.
      opts.logger.error({ worker: n, code, signal }, 'worker failed to start; stopping');
      exitCode = 1;
      stopAll();
      return;
    }
    const lived = Date.now() - slot.startedAt;
    slot.backoffMs = lived >= STABLE_MS ? 0 : Math.min(MAX_BACKOFF_MS, slot.backoffMs ? slot.backoffMs * 2 : FIRST_BACKOFF_MS);
    opts.logger.error({ worker: n, pid: worker.process.pid, code, signal, restartInMs: slot.backoffMs }, 'worker exited; starting a new one');
    slot.ready = false;
    slot.timer = setTimeout(() => { if (phase !== 'stopping') fork(n); }, slot.backoffMs);
  };

  /** once every worker listens: challenges can be answered */
  const startAcme = () => {
    if (!opts.acme) return;
    opts.acme(publishChallenge).then(async (m) => {
      if (!m || phase === 'stopping') return;
      acme = m;
      m.subscribe(() => { void toWorkers({ type: 'countersign:acme', certificates: shareCertificates(m.certificates()) }); });
      await m.start();
    }).catch((err: Error) => {
      opts.logger.error({ outcome: 'failed', reason: err.message }, 'ACME cannot start; stopping');
      exitCode = 1;
      stopAll();
    });
  };

  let killTimer: NodeJS.Timeout | undefined;
  const stopAll = () => {
    phase = 'stopping';
    for (const s of slots.values()) { clearTimeout(s.timer); tell(s, { type: 'countersign:stop' }); }
    if (alive().length === 0) { finish(exitCode); return; }
    killTimer ??= setTimeout(() => { for (const s of alive()) s.worker!.process.kill('SIGKILL'); }, running.timeouts.shutdownGrace + KILL_AFTER_GRACE_MS);
    killTimer.unref();
  };

  let signalled = false;
  const onStopSignal = (sig: string) => {
    if (signalled) {
      opts.logger.info({ outcome: 'signal' }, `${sig} again: killing the workers`);
      for (const s of alive()) s.worker!.process.kill('SIGKILL');
      finish(130);
      return;
    }
    signalled = true;
    opts.logger.info({ outcome: 'signal' }, `${sig}: stopping ${alive().length} workers; open connections get the shutdown grace period`);
    stopAll();
  };
  process.on('SIGINT', () => onStopSignal('SIGINT'));
  process.on('SIGTERM', () => onStopSignal('SIGTERM'));
  process.on('SIGHUP', () => {
    opts.logger.info({ outcome: 'signal' }, 'SIGHUP: reloading the config and certificates in every worker');
    void reloadAll();
  });
  onReopenSignal(async () => {
    for (const s of slots.values()) tell(s, { type: 'countersign:reopen' });
    return reopenFiles();
  }, opts.logger);

  /** every worker's answer, or why there is none */
  const askAll = async <W extends WorkerQuery>(what: W): Promise<{ worker: number; pid?: number; result?: QueryAnswers[W]; error?: string }[]> => Promise.all([...slots.entries()].map(async ([n, s]) => {
    if (!s.worker || !s.ready) return { worker: n, error: 'not running' };
    try { return { worker: n, pid: s.worker.process.pid, result: await query(s, what) }; } catch (err) { return { worker: n, error: (err as Error).message }; }
  }));
  const handlers: AdminHandlers = {
    ready: async () => {
      if (phase === 'stopping') return { ready: false, reasons: ['draining: shutting down, not taking new connections'] };
      if (phase === 'starting') return { ready: false, reasons: ['starting: not every worker listens yet'] };
      const reasons: string[] = [];
      for (const a of await askAll('ready')) {
        if (a.error !== undefined) { reasons.push(`worker ${a.worker}: ${a.error}`); continue; }
        for (const r of a.result?.reasons ?? []) reasons.push(`worker ${a.worker}: ${r}`);
      }
      return { ready: reasons.length === 0, reasons };
    },
    metrics: async () => {
      const all = await askAll('metrics');
      const workerMetrics = all.flatMap((a): MetricsJson[] => (a.result ? [a.result] : []));
      // the audit log is written here: its failures are the primary's to count
      if (opts.audit) workerMetrics.push(await auditMetricsJson(opts.audit.failureCount));
      return { contentType: METRICS_CONTENT_TYPE, text: await aggregateMetrics(workerMetrics) };
    },
    status: async () => {
      const all = await askAll('status');
      const first: ProxyStatus | undefined = all.find((a) => a.error === undefined)?.result;
      return { ...first, pid: process.pid, phase, workers: all.map((a) => ({ worker: a.worker, pid: a.pid, error: a.error, status: a.result })) };
    },
    reload: () => reloadAll(),
  };

  /**
   * The whole config from its file: validated once, here, as `check` does; a
   * key that needs a restart refuses it; then every worker applies the same
   * text. A worker that cannot apply it is stopped and replaced (its
   * replacement starts with that text). Reloads run one at a time.
   */
  const reloadOnce = async (): Promise<ReloadOutcome> => {
    const v = await validateForReload(opts.file, opts.logger);
    if (!v.ok) return v.outcome;
    // the same refusal, in the same words, as a single process's reload (runtime/reload-gate.ts); and
    // a listener whose address is taken would fail in every worker (the sockets are bound here, by node:cluster):
    // refused before any worker tries, so that no worker is replaced by one that cannot start
    const problems = [
      ...restartProblems(configChanges(running, v.loaded.config)),
      ...await newListenersThatCannotBind(running, v.loaded.config),
    ];
    if (problems.length) return refuseReload(opts.logger, problems, opts.file);
    running = v.loaded.config;
    runningText = { text: v.text, file: v.loaded.file, digest: v.loaded.digest, loadedAt: v.loaded.loadedAt.toISOString() };
    const config = runningText;
    const all = await Promise.all([...slots.entries()].map(async ([n, s]) => {
      const w = s.worker;
      if (!w || !s.channel || !s.ready) return { worker: n, error: 'not running (it starts with the new config)' };
      try {
        return { worker: n, pid: w.process.pid, result: await s.channel.request({ type: 'countersign:apply', config }) };
      } catch (err) { return { worker: n, pid: w.process.pid, error: (err as Error).message }; }
    }));
    for (const a of all) {
      const failed = a.error !== undefined ? a.error : a.result?.outcome === 'failed' ? String(a.result.reason ?? 'failed') : undefined;
      if (failed === undefined || a.pid === undefined) continue;
      opts.logger.error({ worker: a.worker, pid: a.pid, outcome: 'failed', reason: failed }, 'worker did not apply the reloaded config; replacing it');
      const s = slots.get(a.worker);
      if (s?.worker?.process.pid === a.pid) s.worker.process.kill('SIGTERM');
    }
    const ok = all.every((a) => a.error === undefined && a.result?.ok);
    const first = all.find((a) => a.result?.ok)?.result;
    return { ok, outcome: ok ? 'ok' : 'failed', changes: first?.changes, generation: first?.generation, workers: all.map((a) => ({ worker: a.worker, error: a.error, ...(a.result ?? {}) })) };
  };

  const reloadAll = oneAtATime(reloadOnce);

  let admin: RunningAdminServer | undefined;
  const started = (async () => {
    if (opts.admin) admin = await startAdminServer({ listen: opts.admin, hosts: opts.config.admin?.hosts, handlers, logger: opts.logger });
  })();
  return started.then(() => {
    for (let n = 1; n <= opts.workers; n++) slots.set(n, { ready: false, startedAt: 0, backoffMs: 0 });
    for (let n = 1; n <= opts.workers; n++) fork(n);
    return done;
  }, (err: Error) => {
    opts.logger.error({ outcome: 'failed', reason: err.message }, 'cannot start the admin listener');
    process.stderr.write(`${err.message}\n`);
    return 1;
  }).then(async (code) => {
    await acme?.stop();
    await admin?.close();
    removePidFile();
    await opts.audit?.close();
    opts.logger.info({ outcome: 'stopped', workers: opts.workers }, 'countersign stopped');
    return code;
  });
}
