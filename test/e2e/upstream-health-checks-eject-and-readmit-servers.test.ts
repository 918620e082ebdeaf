/**
 * Active health checks: a server that is stopped is ejected by its checks (a
 * warn line), so clients are never sent to it and none fails; restarted, it is
 * re-admitted (another warn line) and takes connections again. http checks
 * eject a server that answers its health path with the wrong status, though it
 * still accepts connections.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { waitFor } from '../helpers/edge-tls.js';

let pki: TestPki;
const backends: HttpsBackend[] = [];
const proxies: ProxyProcess[] = [];
let healthStatus = 200;
const routes = {
  '/healthz': (_req: IncomingMessage, res: ServerResponse) => { res.writeHead(healthStatus); res.end(); },
  '/server': (_req: IncomingMessage, res: ServerResponse) => { res.end(`${(res.socket as { localPort?: number }).localPort}`); },
};

before(async () => {
  pki = await makePki();
  backends.push(await startHttpsBackend({ pkiDir: pki.dir, routes }), await startHttpsBackend({ pkiDir: pki.dir, routes }));
});
after(async () => {
  for (const p of proxies) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const b of backends) await b.close();
});

async function startWith(health: Record<string, unknown>): Promise<ProxyProcess> {
  const config = baseConfig(pki.dir, backends[0].port, { mode: 'http' });
  (config.upstreams as Record<string, Record<string, unknown>>).backend = {
    servers: backends.map((b) => `127.0.0.1:${b.port}`), ca: `${pki.dir}/backend-ca.crt`, servername: 'backend.internal',
    health: { interval: '200ms', timeout: '5s', unhealthyAfter: 2, healthyAfter: 2, ...health },
    // a long passive fail timeout: only the active checks can bring a server back quickly
    failTimeout: '10m',
  };
  const p = await startProxyProcess(await writeConfig(pki.dir, config, `health-${proxies.length}.yaml`));
  proxies.push(p);
  return p;
}

/** the backend port that answered each of `n` requests */
async function servedBy(proxy: ProxyProcess, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/server`));
    assert.equal(r.status, 200, r.body);
    out.push(Number(r.body));
  }
  return out;
}

test('tls checks: a stopped server is ejected before any client fails, and re-admitted when it is back', async () => {
  const proxy = await startWith({ type: 'tls' });
  const [a, b] = backends;
  assert.deepEqual(new Set(await servedBy(proxy, 6)), new Set([a.port, b.port]), 'round-robin over both');

  const portB = b.port;
  await b.close();
  const down = await proxy.waitForLog((l) => l.msg.startsWith('upstream server unhealthy') && l.server === `127.0.0.1:${portB}`, 15_000);
  assert.equal(down.level, 40, 'a warn line');
  assert.equal(down.upstream, 'backend');
  assert.ok(String(down.reason).length > 0);
  // every request goes to a; none fails (idle keep-alive connections to b died with it)
  assert.deepEqual(new Set(await servedBy(proxy, 6)), new Set([a.port]));

  backends[1] = await startHttpsBackend({ pkiDir: pki.dir, routes, port: portB });
  const up = await proxy.waitForLog((l) => l.msg.startsWith('upstream server healthy again') && l.server === `127.0.0.1:${portB}`, 15_000);
  assert.equal(up.level, 40);
  assert.equal(up.alpn, 'http/1.1', 'a TLS check records the ALPN the server chose (node:https offers http/1.1)');
  await waitFor(async () => (await servedBy(proxy, 4)).includes(portB), 'b takes requests again', 15_000);
  assert.equal(await proxy.stop(), 0);
});

test('http checks: a server answering its health path with 503 is ejected though it accepts connections', async () => {
  healthStatus = 200;
  const proxy = await startWith({ type: 'http', path: '/healthz', expectStatus: 200 });
  await waitFor(async () => new Set(await servedBy(proxy, 4)).size === 2, 'both serve');
  healthStatus = 503; // both backends share the handler: both become unhealthy
  const lines = await Promise.all(backends.map((b) => proxy.waitForLog((l) => l.msg.startsWith('upstream server unhealthy') && l.server === `127.0.0.1:${b.port}`, 15_000)));
  for (const l of lines) assert.match(String(l.reason), /GET \/healthz answered 503, expected 200/, JSON.stringify(l));
  healthStatus = 200;
  await Promise.all(backends.map((b) => proxy.waitForLog((l) => l.msg.startsWith('upstream server healthy again') && l.server === `127.0.0.1:${b.port}`, 15_000)));
  const checks = backends.flatMap((b) => b.requests.filter((r) => r.url === '/healthz'));
  assert.ok(checks.length >= 8, 'each server checked repeatedly');
  assert.ok(checks.every((r) => r.headers['user-agent'] === 'countersign-health-check' && r.headers.host === 'backend.internal'));
  assert.equal(await proxy.stop(), 0);
});
