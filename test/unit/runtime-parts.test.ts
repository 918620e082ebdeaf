/**
 * The named parts of a running proxy (src/runtime/), each without a listening
 * proxy: the session-ticket keys (derivation, the fleet's key file, its
 * reload), the reload gate the single process and the primary share (one at a
 * time, one refusal text), the reloader's order and refusals, status and
 * readiness from a real generation, and the teardown of a failed start.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfigObject, summarizeChanges, type Config } from '../../src/config/index.js';
import { buildGeneration, type Generation } from '../../src/generation.js';
import type { ReloadResult } from '../../src/edge/index.js';
import { createLogger } from '../../src/observe/index.js';
import { oneAtATime, proxyReadiness, proxyStatus, refuseReload, Reloader, restartProblems, SessionTicketKeys, Teardown, type StatusSnapshot } from '../../src/runtime/index.js';
import { baseConfig, makePki, type TestPki } from '../helpers/proxy-process.js';
import { deferred } from '../helpers/wait.js';

function memoryLogger() {
  const lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const at = (level: string) => (obj: object, msg: string) => { lines.push({ level, msg, obj: obj as Record<string, unknown> }); };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

let pki: TestPki;
before(async () => { pki = await makePki(); });

describe('session-ticket keys', () => {
  it('derives the keys in use from the base and the client trust: same trust, same keys; another trust, other keys', () => {
    const base = randomBytes(48);
    const keys = new SessionTicketKeys({ given: base, logger: memoryLogger() });
    const again = new SessionTicketKeys({ given: base, logger: memoryLogger() });
    assert.equal(keys.keysFor('trust-a').length, 48);
    assert.deepEqual(keys.keysFor('trust-a'), again.keysFor('trust-a'), 'two workers with one base agree without talking');
    assert.notDeepEqual(keys.keysFor('trust-a'), keys.keysFor('trust-b'));
    assert.notDeepEqual(keys.keysFor('trust-a'), base);
    assert.deepEqual(new SessionTicketKeys({ given: base, rotateOnTrustChange: false, logger: memoryLogger() }).keysFor('trust-b'), base);
    assert.equal(keys.sessionIdContext, undefined);
  });

  it('takes the fleet\'s key file over given keys, re-reads it, and keeps the previous key when the file turns bad', async () => {
    const file = join(pki.dir, 'tickets.key');
    await writeFile(file, randomBytes(80), { mode: 0o600 });
    const logger = memoryLogger();
    const keys = new SessionTicketKeys({ given: randomBytes(48), file, logger });
    const other = new SessionTicketKeys({ file, logger: memoryLogger() });
    assert.deepEqual(keys.keysFor('t'), other.keysFor('t'), 'instances sharing the file derive the same keys');
    assert.equal(keys.sessionIdContext, 'countersign-fleet');
    assert.equal(keys.reloadFile(), 'unchanged');
    const before = keys.keysFor('t');
    await writeFile(file, randomBytes(80), { mode: 0o600 });
    assert.equal(keys.reloadFile(), 'reloaded');
    const after = keys.keysFor('t');
    assert.notDeepEqual(after, before);
    await writeFile(file, 'too short', { mode: 0o600 });
    assert.equal(keys.reloadFile(), 'failed');
    assert.deepEqual(keys.keysFor('t'), after, 'the previous key stays');
    assert.deepEqual(logger.lines.map((l) => l.msg), ['session-ticket key reloaded', 'session-ticket key not reloaded; the previous key stays']);
    await writeFile(file, randomBytes(80));
    await chmod(file, 0o644);
    assert.equal(keys.reloadFile(), 'reloaded');
    assert.ok(logger.lines.some((l) => l.level === 'warn' && /readable by group or others/.test(l.msg)));
  });

  it('refuses to start with a key file it cannot read', () => {
    assert.throws(() => new SessionTicketKeys({ file: join(pki.dir, 'no-such.key'), logger: memoryLogger() }), /edge\.sessionTickets\.keyFile: cannot read/);
  });
});

describe('reload gate', () => {
  it('runs reloads one at a time, in order, a failed one not blocking the next', async () => {
    const log: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const run = oneAtATime(async (n: number) => {
      log.push(`start ${n}`);
      await gates[n].promise;
      log.push(`end ${n}`);
      if (n === 1) throw new Error('second failed');
      return n;
    });
    const results = [run(0), run(1), run(2)];
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(log, ['start 0'], 'the second waits for the first');
    gates[0].resolve(); gates[1].resolve(); gates[2].resolve();
    assert.equal(await results[0], 0);
    await assert.rejects(results[1], /second failed/);
    assert.equal(await results[2], 2);
    assert.deepEqual(log, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('says which keys need a restart, in one text, logged once', () => {
    const problems = restartProblems({ restartRequired: ['listen', 'workers'] });
    assert.deepEqual(problems, [
      'listen: changed, but it cannot change without a restart (the running value stays; restart countersign to apply it)',
      'workers: changed, but it cannot change without a restart (the running value stays; restart countersign to apply it)',
    ]);
    const logger = memoryLogger();
    const outcome = refuseReload(logger, problems, '/etc/countersign.yaml');
    assert.deepEqual(outcome, { ok: false, outcome: 'failed', reason: `reload refused: ${problems.join('; ')}`, problems });
    assert.deepEqual(logger.lines.map((l) => [l.level, l.msg, l.obj.file]), [['error', 'reload refused; the running config keeps serving', '/etc/countersign.yaml']]);
    assert.deepEqual(restartProblems({ restartRequired: [] }), []);
  });
});

describe('reloader and status', () => {
  let backendPort: number;
  const generations: Generation[] = [];
  const config = (change: (c: Record<string, any>) => void = () => {}): Config => {
    const raw = baseConfig(pki.dir, backendPort) as Record<string, any>;
    raw.upstreams.backend.alpn = ['http/1.1'];
    change(raw);
    return parseConfigObject(raw, pki.dir);
  };
  const build = async (c: Config, number: number) => {
    const g = await buildGeneration({ config: c, logger: createLogger({ level: 'silent' }), number, trust: () => { throw new Error('unused'); } });
    generations.push(g);
    return g;
  };
  before(() => { backendPort = 1; });
  after(async () => { for (const g of generations) await g.stop(); });

  function reloaderOn(start: Generation, opts: { failBuild?: boolean; stopping?: boolean; failedFile?: boolean } = {}) {
    let serving = start;
    const logger = memoryLogger();
    const counted: string[] = [];
    const steps: string[] = [];
    const files: ReloadResult = { reloaded: [], unchanged: ['edge.crt'], failed: opts.failedFile ? [{ id: 'edge.crt', code: 'ERR_PEM_INVALID', message: 'bad' }] : [] };
    const reloader = new Reloader<Generation>({
      logger,
      running: () => serving.config,
      generation: () => serving.number,
      prepare: async (next, changes) => {
        steps.push('prepare');
        if (opts.failBuild) throw new Error('the CA file is gone');
        if (changes.none) return undefined; // (and no file rotated)
        return { build: await build(next, serving.number + 1), changes: summarizeChanges(changes) };
      },
      commit: (next) => { steps.push('commit'); serving = next; return next.number; },
      discard: async (next) => { steps.push('discard'); await next.stop(); },
      stopping: () => opts.stopping ?? false,
      reloadFiles: async () => { steps.push('files'); return { files, tickets: 'unchanged' }; },
      count: (outcome) => counted.push(outcome),
    });
    return { reloader, logger, counted, steps, serving: () => serving };
  }

  it('builds the next generation whole, then swaps, then re-reads the files, and logs one reload line', async () => {
    const first = await build(config(), 1);
    const { reloader, logger, counted, steps, serving } = reloaderOn(first);
    const outcome = await reloader.reload({ config: config((c) => { c.edge.deny = ['a'.repeat(64)]; }) });
    assert.equal(outcome.ok, true);
    assert.equal(outcome.generation, 2);
    assert.match(String(outcome.changes), /deny entries added: 1/);
    assert.deepEqual(steps, ['prepare', 'commit', 'files']);
    assert.equal(serving().number, 2);
    assert.deepEqual(counted, ['ok']);
    assert.deepEqual(logger.lines.map((l) => l.msg), ['reload']);
    // no config: the running one again — unchanged, so nothing is swapped, and the files are re-read
    const filesOnly = await reloader.reload();
    assert.equal(filesOnly.generation, 2);
    assert.equal(filesOnly.changes, 'config unchanged');
    assert.deepEqual(steps, ['prepare', 'commit', 'files', 'prepare', 'files']);
  });

  it('refuses a key that needs a restart, and a config whose parts cannot be built, without swapping anything', async () => {
    const first = await build(config(), 1);
    const restart = reloaderOn(first);
    const refused = await restart.reloader.reload({ config: config((c) => { c.listen = '127.0.0.1:1'; }), source: { file: 'c.yaml', digest: 'd', loadedAt: new Date() } });
    assert.equal(refused.ok, false);
    assert.deepEqual(refused.problems, restartProblems({ restartRequired: ['listen'] }), 'the same text as the primary\'s');
    assert.deepEqual(restart.steps, [], 'nothing built, nothing re-read');
    assert.equal(restart.logger.lines.filter((l) => l.msg === 'reload refused; the running config keeps serving').length, 1);
    assert.deepEqual(restart.counted, ['failed']);

    const broken = reloaderOn(first, { failBuild: true });
    const failed = await broken.reloader.reload({ config: config((c) => { c.edge.deny = ['b'.repeat(64)]; }) });
    assert.equal(failed.ok, false);
    assert.deepEqual(failed.problems, ['cannot apply the config: the CA file is gone']);
    assert.equal(broken.serving(), first);

    const stopping = reloaderOn(first, { stopping: true });
    const late = await stopping.reloader.reload({ config: config((c) => { c.edge.deny = ['c'.repeat(64)]; }) });
    assert.deepEqual(late.problems, ['stopping: the reload was not applied']);
    assert.deepEqual(stopping.steps, ['prepare', 'discard']);
  });

  it('reports a file that could not be re-read as a partial reload', async () => {
    const first = await build(config(), 1);
    const { reloader, counted } = reloaderOn(first, { failedFile: true });
    const outcome = await reloader.reload();
    assert.equal(outcome.ok, false);
    assert.equal(outcome.outcome, 'partial');
    assert.deepEqual(counted, ['partial']);
  });

  it('reads status and readiness from a generation and a certificate list', async () => {
    const generation = await build(config(), 3);
    const snapshot: StatusSnapshot = {
      address: { host: '127.0.0.1', port: 8443 }, draining: false, startedAt: new Date('2026-01-01T00:00:00Z'), generation,
      listeners: [{ name: 'main', listen: '127.0.0.1:8443', address: '127.0.0.1:8443', connections: 2 }], revocation: [],
      certificates: [], cas: [], connections: { open: 2, max: 10, maxFrom: 'config', refusedAtLimit: 0 },
      caches: { parsedClientCertificates: generation.verifier.cacheStats(), seenIntermediates: { entries: 0, maxEntries: 0, estimatedBytes: 0 } },
    };
    const status = proxyStatus(snapshot, 42);
    assert.equal(status.pid, 42);
    assert.equal(status.generation, 3);
    assert.equal(status.listen, '127.0.0.1:8443');
    assert.deepEqual(status.upstreams.backend.servers.map((s) => [s.address, s.active]), [['127.0.0.1:1', 0]]);
    assert.deepEqual(status.connections.open, 2);

    const notReady = proxyReadiness({ ...snapshot, draining: true });
    assert.equal(notReady.ready, false);
    assert.deepEqual(notReady.reasons.slice(0, 2), ['draining: shutting down, not taking new connections', 'no default server certificate loaded']);
    const cluster = generation.clusters.get('backend')!;
    cluster.markFailed(cluster.servers[0]);
    assert.match(proxyReadiness(snapshot).reasons.join('\n'), /routes\[0\] → upstream backend: no healthy server: 127\.0\.0\.1:1 failing \(passive\)/);
  });
});

describe('teardown of a failed start', () => {
  it('stops what started, last first, and reports the start\'s own error', async () => {
    const stopped: string[] = [];
    const teardown = new Teardown();
    teardown.add(() => { stopped.push('minter'); });
    teardown.add(async () => { stopped.push('generation'); throw new Error('a stop that fails does not hide the cause'); });
    await assert.rejects(teardown.guard(Promise.reject(new Error('listen: address already in use'))), /address already in use/);
    assert.deepEqual(stopped, ['generation', 'minter']);
    await teardown.run();
    assert.deepEqual(stopped, ['generation', 'minter'], 'each step runs once');
  });
});
