/**
 * `balance: identity-hash`, in http and connection mode: each client identity
 * is always served by the same backend; when a server is added to the upstream,
 * identities that move go only to the new server and the others stay where
 * they were (so per-client caches and sessions on the backends survive); when
 * an identity's server is down, it is served by another and comes back after.
 * After each case's requests nothing stays in use (/status: no open
 * connection, every server's active count back at 0).
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { writeIssued } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';
import { untilNothingInUse } from '../helpers/admin-client.js';

let pki: TestPki;
const proxies: ProxyProcess[] = [];
const clients = Array.from({ length: 20 }, (_, i) => `client${i}`);
const routes = { '/server': (_req: IncomingMessage, res: ServerResponse) => { res.end(`${(res.socket as { localPort?: number }).localPort}`); } };

before(async () => {
  pki = await makePki();
  for (const c of clients) await writeIssued(pki.dir, c, { subject: `CN=${c}, O=countersign dev`, issuer: pki.pki.clientCa });
});
after(async () => {
  for (const p of proxies) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

/** Three backends of the test's own (each case its own: one stops and restarts a backend), closed after it. */
async function ownBackends(t: TestContext): Promise<HttpsBackend[]> {
  const backends: HttpsBackend[] = [];
  for (let i = 0; i < 3; i++) backends.push(await startHttpsBackend({ pkiDir: pki.dir, routes }));
  t.after(async () => { for (const b of backends) await b.close(); });
  return backends;
}

/** the admin socket of each proxy start() started */
const adminOf = new Map<ProxyProcess, string>();

async function start(mode: 'http' | 'connection', servers: HttpsBackend[]): Promise<ProxyProcess> {
  const config = baseConfig(pki.dir, servers[0].port, { mode });
  (config.upstreams as Record<string, Record<string, unknown>>).backend = {
    servers: servers.map((b) => `127.0.0.1:${b.port}`), ca: `${pki.dir}/backend-ca.crt`, servername: 'backend.internal',
    balance: 'identity-hash', failTimeout: '1s', alpn: ['http/1.1'],
  };
  const admin = join(pki.dir, `ih-${proxies.length}.sock`);
  config.admin = { listen: admin };
  const p = await startProxyProcess(await writeConfig(pki.dir, config, `ih-${proxies.length}.yaml`));
  proxies.push(p);
  adminOf.set(p, admin);
  return p;
}

/** The baseline once the clients are gone, then a clean stop. */
async function stopIdle(proxy: ProxyProcess): Promise<void> {
  await untilNothingInUse(adminOf.get(proxy)!);
  assert.equal(await proxy.stop(), 0);
}

async function serverOf(proxy: ProxyProcess, who: string): Promise<number> {
  const r = curlStatus(await curl(pki.dir, who, `https://localhost:${proxy.port}/server`));
  assert.equal(r.status, 200, `${who}: ${r.body}`);
  return Number(r.body);
}

for (const mode of ['http', 'connection'] as const) {
  test(`${mode} mode: identities keep their server, across requests and across a server added`, async (t) => {
    const [a, b, c] = await ownBackends(t);
    let proxy = await start(mode, [a, b]);
    const first = new Map<string, number>();
    for (const who of clients) first.set(who, await serverOf(proxy, who));
    for (const who of clients) assert.equal(await serverOf(proxy, who), first.get(who), `${who} stays on its server`);
    assert.equal(new Set(first.values()).size, 2, 'identities spread over both servers');
    await stopIdle(proxy);

    proxy = await start(mode, [a, b, c]);
    let moved = 0;
    for (const who of clients) {
      const now = await serverOf(proxy, who);
      if (now !== first.get(who)) { moved++; assert.equal(now, c.port, `${who} moved, and only to the new server`); }
      assert.equal(await serverOf(proxy, who), now);
    }
    assert.ok(moved > 0 && moved < clients.length, `some identities moved to the new server, most stayed: ${moved} of ${clients.length}`);
    await stopIdle(proxy);
  });
}

test('an identity whose server is down is served by another, and goes back when it returns', async (t) => {
  const backends = await ownBackends(t);
  const proxy = await start('http', backends);
  const home = new Map<string, number>();
  for (const who of clients) home.set(who, await serverOf(proxy, who));
  const victim = backends[0];
  const port = victim.port;
  const onIt = clients.filter((w) => home.get(w) === port);
  assert.ok(onIt.length > 0, 'someone lives on the first server');
  await victim.close();
  for (const who of onIt) assert.notEqual(await serverOf(proxy, who), port, `${who} is served elsewhere`);
  for (const who of clients.filter((w) => home.get(w) !== port)) assert.equal(await serverOf(proxy, who), home.get(who), `${who} did not move`);
  backends[0] = await startHttpsBackend({ pkiDir: pki.dir, routes, port });
  // the passive fail timeout (1s) ends; then the identity is back home
  for (const who of onIt) await waitFor(async () => (await serverOf(proxy, who)) === port, `${who} back on its server`, 20_000, 200);
  await stopIdle(proxy);
});
