/**
 * The admin listener of one process, seen as a load balancer and Prometheus see
 * it: /healthz and /readyz answer without a client certificate; /readyz goes
 * 503 (with the reason) when the route's only server is down and 200 again when
 * it is back, and 503 while draining on SIGTERM; /metrics counts what the test
 * did (requests, refusals by reason, mints, health changes, reloads) and
 * shows the event loop's delay and utilization; /status
 * lists certificates and servers; POST /reload reloads and says how it went.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, REPO_ROOT, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { writeClientCertificates } from '../helpers/e2e.js';
import { waitFor } from '../helpers/edge-tls.js';
import { adminJson, adminRequest, scrape } from '../helpers/admin-client.js';
import { metricValue } from '../helpers/prometheus-text.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let admin: string;
const held: ServerResponse[] = [];

const backendRoutes = { '/hold': (_req: unknown, res: ServerResponse) => { held.push(res); } };

before(async () => {
  pki = await makePki();
  await writeClientCertificates(pki);
  backend = await startHttpsBackend({ pkiDir: pki.dir, routes: backendRoutes });
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' });
  (config.upstreams as Record<string, Record<string, unknown>>).backend.health = { type: 'tls', interval: '300ms', timeout: '5s', unhealthyAfter: 1, healthyAfter: 1 };
  config.admin = { listen: '127.0.0.1:0' };
  config.timeouts = { shutdownGrace: '20s' };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
  admin = String((await proxy.waitForLog((l) => l.msg === 'admin listening')).admin);
});
after(async () => {
  for (const r of held) r.destroy();
  if (proxy?.child.exitCode === null) proxy.child.kill('SIGKILL');
  await backend?.close();
});

test('healthz and readyz answer 200 without a client certificate; unknown paths 404, wrong methods 405', async () => {
  assert.equal((await adminRequest(admin, '/healthz')).status, 200);
  const ready = await adminJson<{ ready: boolean; reasons: string[] }>(admin, '/readyz');
  assert.equal(ready.status, 200, JSON.stringify(ready.body));
  assert.deepEqual(ready.body, { ready: true, reasons: [] });
  assert.equal((await adminRequest(admin, '/nope')).status, 404);
  assert.equal((await adminRequest(admin, '/reload')).status, 405);
  assert.equal((await adminRequest(admin, '/metrics', 'POST')).status, 405);
});

test('metrics count the requests, refusals by reason and mints the test made', async () => {
  for (const who of ['alice', 'alice', 'alice', 'bob']) assert.equal(curlStatus(await curl(pki.dir, who, `https://localhost:${proxy.port}/who`)).status, 200);
  for (const who of ['stranger', 'stranger', 'expired']) assert.equal(curlStatus(await curl(pki.dir, who, `https://localhost:${proxy.port}/who`)).status, 400);
  // connection lines come when each connection closes; wait for the four served ones
  await waitFor(() => proxy.logs.filter((l) => l.msg === 'connection' && l.mode === 'http').length >= 4, 'four connection lines');
  const m = await scrape(admin);
  assert.equal(metricValue(m, 'countersign_requests_total', { route: 'backend', status: '200', outcome: 'ok' }), 4);
  assert.equal(metricValue(m, 'countersign_requests_total', { status: '400', outcome: 'refused' }), 3);
  assert.equal(metricValue(m, 'countersign_handshake_refusals_total', { reason: 'unknown CA' }), 2);
  assert.equal(metricValue(m, 'countersign_handshake_refusals_total', { reason: 'expired' }), 1);
  assert.equal(metricValue(m, 'countersign_delegation_mints_total'), 2, 'alice and bob: one mint each');
  assert.ok(metricValue(m, 'countersign_delegation_cache_hits_total') >= 2, 'alice\'s second and third request at least');
  assert.equal(metricValue(m, 'countersign_delegation_cache_misses_total'), 2);
  assert.equal(metricValue(m, 'countersign_connections_total', { route: 'backend', mode: 'http', outcome: 'closed' }), 4);
  assert.equal(metricValue(m, 'countersign_connections_total', { route: 'backend', mode: 'http', outcome: 'refused' }), 3);
  assert.equal(metricValue(m, 'countersign_request_duration_seconds', { route: 'backend' }, 'countersign_request_duration_seconds_count'), 4);
  assert.ok(metricValue(m, 'countersign_received_bytes_total', { route: 'backend' }) > 0);
  assert.ok(metricValue(m, 'countersign_sent_bytes_total', { route: 'backend' }) > 0);
  assert.ok(metricValue(m, 'countersign_upstream_connect_duration_seconds', { upstream: 'backend', outcome: 'ok' }, 'countersign_upstream_connect_duration_seconds_count') >= 2, 'one upstream connection per identity at least');
  assert.equal(metricValue(m, 'countersign_upstream_server_healthy', { upstream: 'backend', server: `127.0.0.1:${backend.port}` }), 1);
  // every certificate kind has a positive expiry
  for (const kind of ['edge', 'client-ca', 'delegation-ca', 'upstream-ca']) {
    const s = m.get('countersign_certificate_expiry_seconds')!.samples.filter((x) => x.labels.kind === kind);
    assert.ok(s.length >= 1 && s.every((x) => x.value > 86400), `${kind}: ${JSON.stringify(s)}`);
  }
  assert.equal(metricValue(m, 'countersign_audit_write_failures_total'), 0);
  // the event loop: a histogram of timer delays (sampled every 10 ms since start) and the share of time it was busy
  const delays = metricValue(m, 'countersign_event_loop_delay_seconds', {}, 'countersign_event_loop_delay_seconds_count');
  assert.ok(delays > 10, `event-loop delay samples: ${delays}`);
  assert.ok(metricValue(m, 'countersign_event_loop_delay_seconds', { le: '+Inf' }, 'countersign_event_loop_delay_seconds_bucket') === delays);
  const busy = metricValue(m, 'countersign_event_loop_utilization');
  assert.ok(busy > 0 && busy <= 1, `event-loop utilization ${busy}`);
});

test('status lists the certificates served, the CAs and the upstream servers with their state', async () => {
  const s = await adminJson<{ pid: number; config: { digest: string }; certificates: { names: string[]; isDefault: boolean; notAfter: string }[]; cas: { kind: string }[]; upstreams: Record<string, { servers: { address: string; healthy: boolean; lastCheck?: { ok: boolean } }[] }> }>(admin, '/status');
  assert.equal(s.status, 200);
  assert.equal(s.body.pid, proxy.child.pid);
  assert.match(s.body.config.digest, /^[0-9a-f]{64}$/);
  assert.ok(s.body.certificates.some((c) => c.isDefault && c.names.includes('localhost') && Date.parse(c.notAfter) > Date.now()));
  assert.deepEqual([...new Set(s.body.cas.map((c) => c.kind))].sort(), ['client-ca', 'delegation-ca', 'upstream-ca']);
  const server = s.body.upstreams.backend.servers[0];
  assert.equal(server.address, `127.0.0.1:${backend.port}`);
  assert.equal(server.healthy, true);
  assert.equal(server.lastCheck?.ok, true);
  // what each cache holds and weighs: alice and bob were minted for (the metrics test), their certificates parsed
  const caches = (s.body as unknown as { caches: Record<string, { entries: number; maxEntries: number; estimatedBytes: number; budgetBytes?: number }> }).caches;
  assert.equal(caches.delegation.entries, 2);
  assert.equal(caches.delegation.maxEntries, 10_000);
  assert.equal(caches.delegation.budgetBytes, 64 * 1024 * 1024);
  assert.ok(caches.delegation.estimatedBytes > 2 * 40 * 1024 && caches.delegation.estimatedBytes < 2 * 100 * 1024, `two identities weigh ${caches.delegation.estimatedBytes} bytes`);
  assert.ok(caches.parsedClientCertificates.entries >= 2 && caches.parsedClientCertificates.estimatedBytes === caches.parsedClientCertificates.entries * 12 * 1024);
  assert.equal(caches.parsedClientCertificates.maxEntries, 1_000);
  assert.equal(caches.seenIntermediates.maxEntries, 1_000);
});

test('readyz goes 503 naming the route when its only server is down, and 200 once it is back', async () => {
  const port = backend.port;
  await backend.close();
  const down = await waitFor(async () => {
    const r = await adminJson<{ ready: boolean; reasons: string[] }>(admin, '/readyz');
    return r.status === 503 ? r.body : undefined;
  }, 'readyz 503', 15_000);
  assert.equal(down.ready, false);
  assert.match(down.reasons.join('\n'), new RegExp(`upstream backend: no healthy server: 127\\.0\\.0\\.1:${port} unhealthy`));
  await proxy.waitForLog((l) => l.msg.startsWith('upstream server unhealthy') && l.server === `127.0.0.1:${port}`);
  let m = await scrape(admin);
  assert.equal(metricValue(m, 'countersign_upstream_server_healthy', { server: `127.0.0.1:${port}` }), 0);
  assert.equal(metricValue(m, 'countersign_upstream_health_changes_total', { server: `127.0.0.1:${port}`, state: 'unhealthy' }), 1);

  backend = await startHttpsBackend({ pkiDir: pki.dir, routes: backendRoutes, port });
  await waitFor(async () => (await adminRequest(admin, '/readyz')).status === 200, 'readyz 200 again', 15_000);
  await proxy.waitForLog((l) => l.msg.startsWith('upstream server healthy again'));
  m = await scrape(admin);
  assert.equal(metricValue(m, 'countersign_upstream_health_changes_total', { server: `127.0.0.1:${port}`, state: 'healthy' }), 1);
  assert.equal(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/who`)).status, 200);
});

test('POST /reload reloads the certificates and answers with the outcome', async () => {
  const r = await adminJson<{ ok: boolean; outcome: string }>(admin, '/reload', 'POST');
  assert.equal(r.status, 200);
  assert.equal(r.body.ok, true);
  assert.equal(r.body.outcome, 'ok');
  assert.equal((r.body as { sessionTicketKey?: string }).sessionTicketKey, 'unchanged', 'no edge.sessionTickets.keyFile');
  // every field of the answer is one docs/operations.md's POST /reload row names
  const row = readFileSync(join(REPO_ROOT, 'docs/operations.md'), 'utf8').split('\n').find((l) => l.startsWith('| `POST /reload` |'))!;
  const documented = new Set([...row.matchAll(/"(\w+)":/g)].map((m) => m[1]));
  assert.deepEqual(Object.keys(r.body).filter((k) => !documented.has(k)), [], `documented: ${[...documented].join(', ')}`);
  await proxy.waitForLog((l) => l.msg === 'reload' && l.outcome === 'ok');
  assert.equal(metricValue(await scrape(admin), 'countersign_reloads_total', { outcome: 'ok' }), 1);
});

test('on SIGTERM readyz answers 503 "draining" while a request finishes, then the process exits 0', async () => {
  const inFlight = curl(pki.dir, 'alice', `https://localhost:${proxy.port}/hold`);
  await waitFor(() => held.length > 0, 'the request reached the backend');
  const exited = new Promise<number | null>((r) => proxy.child.once('exit', (code) => r(code)));
  proxy.child.kill('SIGTERM');
  const draining = await waitFor(async () => {
    const r = await adminJson<{ ready: boolean; reasons: string[] }>(admin, '/readyz');
    return r.status === 503 ? r.body : undefined;
  }, 'readyz 503 while draining');
  assert.match(draining.reasons.join('\n'), /draining/);
  assert.equal((await adminRequest(admin, '/healthz')).status, 200, 'still alive while draining');
  held[0].end('done');
  assert.equal(curlStatus(await inFlight).status, 200);
  assert.equal(await exited, 0);
});
