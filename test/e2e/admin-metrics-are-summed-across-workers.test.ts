/**
 * `workers: 2` with the admin listener on a unix socket (mode 0600): the
 * primary answers /metrics with the sum of both workers' counters, /readyz and
 * /status with what every worker says, and POST /reload reloads in each.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { writeClientCertificates } from '../helpers/e2e.js';
import { waitFor } from '../helpers/edge-tls.js';
import { adminJson, adminRequest, scrape } from '../helpers/admin-client.js';
import { metricValue } from '../helpers/prometheus-text.js';
import { childPids } from '../helpers/process-ports.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let socket: string;
const held: ServerResponse[] = [];

before(async () => {
  pki = await makePki();
  await writeClientCertificates(pki);
  backend = await startHttpsBackend({ pkiDir: pki.dir, routes: { '/hold': (_req, res) => { held.push(res); } } });
  socket = join(pki.dir, 'admin.sock');
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' });
  config.workers = 2;
  config.admin = { listen: socket };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => {
  for (const r of held) r.destroy();
  for (const pid of proxy?.child.pid ? await childPids(proxy.child.pid) : []) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  if (proxy?.child.exitCode === null) proxy.child.kill('SIGKILL');
  await backend?.close();
});

test('the admin socket is mode 0600 and readyz asks every worker', async () => {
  assert.equal(statSync(socket).mode & 0o777, 0o600);
  const r = await adminJson<{ ready: boolean; reasons: string[] }>(socket, '/readyz');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const s = await adminJson<{ pid: number; workers: { worker: number; pid: number; status: { pid: number } }[] }>(socket, '/status');
  assert.equal(s.body.pid, proxy.child.pid);
  assert.deepEqual(s.body.workers.map((w) => w.worker), [1, 2]);
  assert.deepEqual(s.body.workers.map((w) => w.status.pid).sort(), (await childPids(proxy.child.pid!)).sort());
});

test('metrics are the sum of both workers: requests, refusals by reason, mints', async () => {
  const requests = 10;
  for (let i = 0; i < requests; i++) assert.equal(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/who`)).status, 200);
  for (let i = 0; i < 4; i++) assert.equal(curlStatus(await curl(pki.dir, 'stranger', `https://localhost:${proxy.port}/who`)).status, 400);
  await waitFor(() => proxy.logs.filter((l) => l.msg === 'connection' && l.mode === 'http').length >= requests, 'a connection line per request');
  const served = new Set(proxy.logs.filter((l) => l.msg === 'request' && l.status === 200).map((l) => l.worker));
  assert.deepEqual([...served].sort(), [1, 2], 'both workers served requests, so the sum has two parts');
  const mintsByWorker = served.size; // alice is minted once in each worker (caches are per worker)

  const m = await scrape(socket);
  assert.equal(metricValue(m, 'countersign_requests_total', { route: 'backend', status: '200', outcome: 'ok' }), requests);
  assert.equal(metricValue(m, 'countersign_connections_total', { route: 'backend', mode: 'http', outcome: 'closed' }), requests);
  assert.equal(metricValue(m, 'countersign_handshake_refusals_total', { reason: 'unknown CA' }), 4);
  assert.equal(metricValue(m, 'countersign_delegation_mints_total'), mintsByWorker);
  assert.equal(metricValue(m, 'countersign_request_duration_seconds', { route: 'backend' }, 'countersign_request_duration_seconds_count'), requests);
  // a gauge is not summed: the server is healthy (1), not 2
  assert.equal(metricValue(m, 'countersign_upstream_server_healthy', { upstream: 'backend' }), 1);
});

test('POST /reload reloads in every worker and reports each', async () => {
  const r = await adminJson<{ ok: boolean; workers: { worker: number; ok: boolean }[] }>(socket, '/reload', 'POST');
  assert.equal(r.status, 200);
  assert.equal(r.body.ok, true);
  assert.deepEqual(r.body.workers.map((w) => [w.worker, w.ok]), [[1, true], [2, true]]);
  assert.equal(metricValue(await scrape(socket), 'countersign_reloads_total', { outcome: 'ok' }), 2);
});

test('SIGTERM: readyz says draining while a request finishes, then the socket is removed', async () => {
  const inFlight = curl(pki.dir, 'alice', `https://localhost:${proxy.port}/hold`);
  await waitFor(() => held.length > 0, 'the request reached the backend');
  const exited = new Promise<number | null>((r) => proxy.child.once('exit', (code) => r(code)));
  proxy.child.kill('SIGTERM');
  const body = await waitFor(async () => {
    const r = await adminRequest(socket, '/readyz').catch(() => undefined);
    return r?.status === 503 ? r.body : undefined;
  }, 'readyz 503');
  assert.match(body, /draining/);
  held[0].end('done');
  assert.equal(curlStatus(await inFlight).status, 200);
  assert.equal(await exited, 0);
  assert.throws(() => statSync(socket), /ENOENT/);
});
