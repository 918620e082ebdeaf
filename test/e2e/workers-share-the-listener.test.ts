/**
 * `workers: 2`: a primary and two worker processes behind one listener. Both
 * workers take connections; a TLS session made on one resumes on the other
 * (shared ticket keys); a worker that dies is replaced while the other serves;
 * SIGHUP reloads in every worker; SIGTERM stops them all and exits 0; a worker
 * that cannot start stops the whole thing with exit 1.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { issueCertificate } from '../../src/pki/dev/index.js';
import { connect, type TLSSocket } from 'node:tls';
import { createServer } from 'node:net';
import { makePki, writeConfig, startProxyProcess, baseConfig, CLI, type ProxyProcess, type TestPki, type LogLine } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus, runCommand } from '../helpers/run-command.js';
import { listeningHolders } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

const workerPids = (lines: LogLine[]) => new Set(lines.filter((l) => l.msg === 'connection').map((l) => Number(l.pid)));
const isAlive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' }) as Record<string, unknown>;
  config.workers = 2;
  config.timeouts = { shutdownGrace: '5s' };
  (config.edge as Record<string, unknown>).reloadPollInterval = '200ms';
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => {
  for (const pid of workerPids(proxy?.logs ?? [])) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  if (proxy?.child.exitCode === null) proxy.child.kill('SIGKILL');
  await backend?.close();
});

/** One HTTP/1.1 request on its own TLS connection, optionally resuming `session`. */
function requestOnce(session?: Buffer, servername = 'localhost'): Promise<{ status: string; reused: boolean; session?: Buffer }> {
  return new Promise((resolve, reject) => {
    let next: Buffer | undefined;
    const s: TLSSocket = connect({
      host: '127.0.0.1', port: proxy.port, servername: servername === '127.0.0.1' ? undefined : servername, checkServerIdentity: () => undefined, ca: readFileSync(`${pki.dir}/edge-ca.crt`),
      cert: readFileSync(`${pki.dir}/alice.crt`), key: readFileSync(`${pki.dir}/alice.key`), session, ALPNProtocols: ['http/1.1'],
    });
    s.on('session', (b: Buffer) => { next = b; });
    let data = '';
    let reused = false;
    s.once('secureConnect', () => {
      reused = s.isSessionReused(); // after close the handle is gone and it answers null
      s.write('GET /who HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    s.on('data', (d: Buffer) => { data += d.toString(); });
    s.on('error', reject);
    s.on('close', () => resolve({ status: data.split('\r\n')[0], reused, session: next }));
  });
}

test('one listening line; connections land on both workers, never on the primary', async () => {
  assert.equal(proxy.logs.filter((l) => l.msg === 'countersign listening').length, 1);
  assert.equal(proxy.logs.find((l) => l.msg === 'countersign listening')!.workers, 2);
  const mark = proxy.logs.length;
  for (let i = 0; i < 6; i++) {
    const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/who`));
    assert.equal(r.status, 200);
  }
  await waitFor(() => proxy.logs.slice(mark).filter((l) => l.msg === 'connection').length >= 6, 'a log line per connection');
  const pids = workerPids(proxy.logs.slice(mark));
  assert.equal(pids.size, 2, `two worker processes served: ${[...pids].join(', ')}`);
  assert.ok(!pids.has(proxy.child.pid!), 'the primary serves nothing itself');
  const workers = new Set(proxy.logs.slice(mark).filter((l) => l.msg === 'connection').map((l) => l.worker));
  assert.deepEqual([...workers].sort(), [1, 2], 'log lines name their worker');
});

test('a TLS session made on one worker resumes on the other (shared ticket keys)', async () => {
  let { session } = await requestOnce();
  assert.ok(session, 'the first connection got a session ticket');
  const mark = proxy.logs.length;
  for (let i = 0; i < 4; i++) {
    const r = await requestOnce(session);
    assert.equal(r.status, 'HTTP/1.1 200 OK');
    assert.ok(r.reused, `connection ${i + 1} resumed its session`);
    session = r.session ?? session;
  }
  await waitFor(() => proxy.logs.slice(mark).filter((l) => l.msg === 'connection').length >= 4, 'a log line per connection');
  assert.equal(workerPids(proxy.logs.slice(mark)).size, 2, 'the resumed connections were spread over both workers');
});

test('after an edge certificate reload, sessions still resume across workers', async () => {
  // A reloaded default certificate makes Node build a new server context, with new
  // random ticket keys unless the shared ones are carried over.
  const renewed = await issueCertificate({ subject: 'CN=localhost', issuer: pki.pki.edgeCa, usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const mark = proxy.logs.length;
  await writeFile(join(pki.dir, 'edge.key.tmp'), renewed.keyPem, { mode: 0o600 });
  await writeFile(join(pki.dir, 'edge.crt.tmp'), renewed.certPem);
  await rename(join(pki.dir, 'edge.key.tmp'), join(pki.dir, 'edge.key'));
  await rename(join(pki.dir, 'edge.crt.tmp'), join(pki.dir, 'edge.crt'));
  await waitFor(() => new Set(proxy.logs.slice(mark).filter((l) => l.msg === 'server certificate reloaded').map((l) => l.worker)).size === 2, 'both workers reloaded');
  for (const servername of ['localhost', '127.0.0.1' /* no SNI: the default context */]) {
    let { session } = await requestOnce(undefined, servername);
    const m2 = proxy.logs.length;
    for (let i = 0; i < 4; i++) {
      const r = await requestOnce(session, servername);
      assert.ok(r.reused, `${servername}: connection ${i + 1} resumed its session`);
      session = r.session ?? session;
    }
    await waitFor(() => proxy.logs.slice(m2).filter((l) => l.msg === 'connection').length >= 4, 'a log line per connection');
    assert.equal(workerPids(proxy.logs.slice(m2)).size, 2);
  }
});

test('a worker killed with SIGKILL is replaced, and the proxy keeps serving', async () => {
  const victim = [...workerPids(proxy.logs)][0];
  const mark = proxy.logs.length;
  process.kill(victim, 'SIGKILL');
  const exited = await proxy.waitForLog((l) => l.msg === 'worker exited; starting a new one' && l.pid === victim);
  assert.equal(exited.signal, 'SIGKILL');
  // the surviving worker serves while the slot restarts
  assert.equal(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/who`)).status, 200);
  await proxy.waitForLog((l) => l.msg === 'worker restarted' && proxy.logs.indexOf(l) >= mark, 15_000);
  const mark2 = proxy.logs.length;
  for (let i = 0; i < 6; i++) assert.equal(curlStatus(await curl(pki.dir, 'bob', `https://localhost:${proxy.port}/who`)).status, 200);
  await waitFor(() => proxy.logs.slice(mark2).filter((l) => l.msg === 'connection').length >= 6, 'a log line per connection');
  const pids = workerPids(proxy.logs.slice(mark2));
  assert.equal(pids.size, 2, 'two workers again');
  assert.ok(!pids.has(victim));
});

test('SIGHUP reloads certificates in every worker', async () => {
  const mark = proxy.logs.length;
  proxy.child.kill('SIGHUP');
  await waitFor(() => proxy.logs.slice(mark).filter((l) => l.msg === 'reload').length >= 2, 'a reload line from each worker');
  const reloads = proxy.logs.slice(mark).filter((l) => l.msg === 'reload');
  assert.deepEqual(reloads.map((l) => l.worker).sort(), [1, 2]);
  assert.ok(reloads.every((l) => l.outcome === 'ok'));
});

test('SIGTERM stops every worker and the primary exits 0', async () => {
  const mark = proxy.logs.length;
  // every live worker: one request each way round the round-robin
  for (let i = 0; i < 2; i++) await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/who`);
  await waitFor(() => proxy.logs.slice(mark).filter((l) => l.msg === 'connection').length >= 2, 'connection lines');
  const pids = workerPids(proxy.logs.slice(mark));
  assert.equal(await proxy.stop('SIGTERM'), 0);
  assert.equal(proxy.logs.filter((l) => l.msg === 'countersign stopped' && l.worker !== undefined).length, 2, 'each worker stopped gracefully');
  await waitFor(() => [...pids].every((p) => !isAlive(p)), 'worker processes gone');
});

test('a worker that cannot start stops the primary: exit 1 and the reason on stderr', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as { port: number }).port;
  try {
    const config = baseConfig(pki.dir, backend.port, { mode: 'http' }) as Record<string, unknown>;
    config.workers = 2;
    config.listen = `127.0.0.1:${port}`;
    const r = await runCommand(process.execPath, [CLI, 'start', '--config', await writeConfig(pki.dir, config, 'taken.yaml')], { timeoutMs: 20_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /address already in use/);
    assert.match(r.stdout, /worker failed to start; stopping/);
  } finally {
    taken.close();
  }
});

test('workers whose primary is killed (SIGKILL) stop on their own and free the port', async () => {
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' }) as Record<string, unknown>;
  config.workers = 2;
  config.timeouts = { shutdownGrace: '2s' };
  const p = await startProxyProcess(await writeConfig(pki.dir, config, 'orphans.yaml'));
  const children = readFileSync(`/proc/${p.child.pid}/task/${p.child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  assert.equal(children.length, 2, 'two worker processes');
  assert.deepEqual(listeningHolders(p.port, [p.child.pid!, ...children]), [p.child.pid], 'the primary holds the listener (cluster round-robin)');
  const primaryGone = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGKILL');
  await primaryGone;
  // The workers outlive the primary for a moment (measured: 1-2 s until node:cluster sees the
  // IPC channel drop); they must not hold the port meanwhile. Asked of the kernel, not by
  // connecting: once freed, the port may be taken by any other program (another test file).
  assert.deepEqual(listeningHolders(p.port, children), [], 'no worker listens after the primary died');
  await waitFor(() => children.every((pid) => !isAlive(pid)), 'workers gone', 15_000);
});
