/**
 * The one upstream pool of http mode (src/forward/http/upstream-pool.ts), on
 * real TLS connections to real HTTPS backends on loopback: lookup and reuse,
 * groups never shared between identities, the per-server cap with waiters,
 * eviction, forget, retire, idle close and connect failover — and after each,
 * every count (the servers' `active`, leases, busy connections, waiters) back
 * at zero. As pingora-pool's tests, beside the pool.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, type TestPki } from '../helpers/pki.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { freePort } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';
import { readFileSync } from 'node:fs';
import { UpstreamCluster } from '../../src/forward/upstream-cluster.js';
import { UpstreamPool, type Lease, type UpstreamPoolOptions } from '../../src/forward/http/upstream-pool.js';
import { H1Upstream } from '../../src/forward/http/h1-upstream.js';
import type { UpstreamFailure } from '../../src/forward/http/failures.js';
import type { UpstreamBinding } from '../../src/forward/client-connection.js';

let pki: TestPki;
let b1: HttpsBackend;
let b2: HttpsBackend;
/** responses held open by /hold until released */
const held: import('node:http').ServerResponse[] = [];

before(async () => {
  pki = await makePki();
  const routes = { '/hold': (_req: unknown, res: import('node:http').ServerResponse) => { held.push(res); } };
  [b1, b2] = await Promise.all([startHttpsBackend({ pkiDir: pki.dir, routes }), startHttpsBackend({ pkiDir: pki.dir, routes })]);
});
after(async () => { for (const r of held) r.destroy(); await Promise.all([b1?.close(), b2?.close()]); });

function cluster(ports: number[], extra: Partial<ConstructorParameters<typeof UpstreamCluster>[0]> = {}): UpstreamCluster {
  return new UpstreamCluster({
    name: 'be', servers: ports.map((p) => `127.0.0.1:${p}`), caPem: readFileSync(`${pki.dir}/backend-ca.crt`, 'utf8'), servername: 'backend.internal',
    minVersion: 'TLSv1.3', balance: 'round-robin', connectTimeoutMs: 2000, failTimeoutMs: 10_000, connectRaceMs: 0, ...extra,
  });
}

const binding = (c: UpstreamCluster, identity: string): UpstreamBinding => ({ cluster: c, context: c.anonymous(), identityKey: identity, balanceKey: identity });

function pool(o: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  return new UpstreamPool({
    maxGroups: 16, keepAliveTimeoutMs: 30_000, maxConnectionsPerServer: 16, maxIdlePerServer: 16,
    connection: (socket, server) => new H1Upstream(socket, server),
    ...o,
  });
}

function lease(p: UpstreamPool, b: UpstreamBinding): Promise<Lease> {
  return new Promise((resolve, reject) => p.lease({ binding: b, protocol: 'http/1.1' }, (err, l) => (err ? reject(err) : resolve(l!))));
}

/** GET `path` on a lease; resolves with the status and the body (the backend's JSON echo names its socket). */
function get(l: Lease, path: string): Promise<{ status: number; body: string }> {
  const c = l.connection as H1Upstream;
  return new Promise((resolve, reject) => {
    let status = 0;
    let body = '';
    c.start({ method: 'GET', target: path, host: 'backend.internal', fields: [], body: 'none', upgrade: false, trailers: false }, {
      head: (s, _raw, interim) => { if (!interim) status = s; },
      data: (d) => { body += d.toString(); },
      end: () => resolve({ status, body }),
      failed: (err) => reject(err),
      drain: () => {},
    });
  });
}

/** One request on a fresh lease, released after; the number of the backend socket it went over. */
async function ask(p: UpstreamPool, b: UpstreamBinding, path = '/echo'): Promise<number> {
  const l = await lease(p, b);
  const r = await get(l, path);
  l.release(true);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body).socket as number;
}

function assertAllZero(p: UpstreamPool, ...clusters: UpstreamCluster[]): void {
  const s = p.stats();
  assert.equal(s.leases, 0, 'leases');
  assert.equal(s.busy, 0, 'busy connections');
  assert.equal(s.waiting, 0, 'waiters');
  assert.equal(s.connecting, 0, 'connects');
  for (const c of clusters) for (const server of c.servers) assert.equal(server.active, 0, `${server.address} active`);
}

test('lookup: a released connection is reused by the same identity, one at a time', async () => {
  const c = cluster([b1.port]);
  const p = pool();
  const a = binding(c, 'alice');
  const first = await ask(p, a);
  assert.equal(await ask(p, a), first);
  assert.equal(await ask(p, a), first);
  assert.deepEqual({ connections: p.stats().connections, groups: p.stats().groups }, { connections: 1, groups: 1 });
  assertAllZero(p, c);
  p.destroy();
});

test('a connection is never shared between identities; concurrent requests of one get their own', async () => {
  const c = cluster([b1.port]);
  const p = pool();
  const alice = await ask(p, binding(c, 'alice'));
  const bob = await ask(p, binding(c, 'bob'));
  assert.notEqual(alice, bob);
  assert.equal(await ask(p, binding(c, 'alice')), alice);
  const [x, y] = await Promise.all([lease(p, binding(c, 'alice')), lease(p, binding(c, 'alice'))]);
  assert.notEqual(x.connection, y.connection);
  assert.equal(c.servers[0].active, 2, 'each lease counts once on its server');
  x.release(); y.release();
  assert.equal(p.stats().groups, 2);
  assertAllZero(p, c);
  p.destroy();
});

test('at the per-server cap, requests wait and get the next released connection, first come first served', async () => {
  const c = cluster([b1.port]);
  const p = pool({ maxConnectionsPerServer: 2 });
  const a = binding(c, 'alice');
  const [l1, l2] = await Promise.all([lease(p, a), lease(p, a)]);
  const order: number[] = [];
  const w3 = lease(p, a).then((l) => { order.push(3); return l; });
  const w4 = lease(p, a).then((l) => { order.push(4); return l; });
  await waitFor(() => p.stats().waiting === 2, 'two waiters');
  assert.equal(p.stats().connections, 2);
  assert.equal(c.servers[0].active, 4, 'waiting leases count on the server they wait for');
  const c1 = l1.connection;
  l1.release();
  const l3 = await w3;
  assert.equal(l3.connection, c1, 'the waiter got the released connection');
  l2.release();
  const l4 = await w4;
  assert.deepEqual(order, [3, 4]);
  l3.release(); l4.release();
  assert.equal(p.stats().connections, 2);
  assertAllZero(p, c);
  p.destroy();
});

test('eviction: past maxGroups the least recently used group closes its idle connections', async () => {
  const c = cluster([b1.port]);
  const p = pool({ maxGroups: 1 });
  await ask(p, binding(c, 'alice'));
  assert.equal(p.stats().connections, 1);
  await ask(p, binding(c, 'bob'));
  await waitFor(() => p.stats().connections === 1, "alice's idle connection closed");
  assert.equal(p.stats().groups, 1);
  assertAllZero(p, c);
  p.destroy();
});

test('a binding finds its group again without the LRU, but never a group that was evicted or forgotten', async () => {
  const c = cluster([b1.port]);
  const p = pool({ maxGroups: 1 });
  const alice = binding(c, 'alice');
  const first = await ask(p, alice);
  // the same binding (a keep-alive connection's next request): the same group, the same idle connection
  assert.equal(await ask(p, alice), first);
  // bob's group evicts alice's: her binding must not lease from the closed group
  await ask(p, binding(c, 'bob'));
  await waitFor(() => p.stats().connections === 1, "alice's idle connection closed");
  const again = await ask(p, alice);
  assert.notEqual(again, first);
  // …and its new connection is kept by a live group (a closed one would close it on release)
  assert.equal(await ask(p, alice), again, 'reused in the new group');
  assert.equal(p.stats().groups, 1);
  // forgotten: the next lease of the same binding connects anew, into a live group again
  p.forget('alice');
  await waitFor(() => p.stats().connections === 0, "alice's connection destroyed");
  const fresh = await ask(p, alice);
  assert.notEqual(fresh, again);
  assert.equal(await ask(p, alice), fresh, 'reused after forget');
  assertAllZero(p, c);
  p.destroy();
});

test('eviction of a busy group: its connection finishes its request, then closes', async () => {
  const c = cluster([b1.port]);
  const p = pool({ maxGroups: 1 });
  const l = await lease(p, binding(c, 'alice'));
  const r = get(l, '/echo');
  await ask(p, binding(c, 'bob'));
  assert.equal((await r).status, 200);
  l.release(true);
  await waitFor(() => p.stats().connections === 1, 'only bob\'s connection is left');
  assertAllZero(p, c);
  p.destroy();
});

test('forget: every connection of the identity is destroyed, its request and its waiters fail', async () => {
  const c = cluster([b1.port]);
  const p = pool({ maxConnectionsPerServer: 1 });
  const bobSocket = await ask(p, binding(c, 'bob'));
  const l = await lease(p, binding(c, 'alice'));
  const inFlight = get(l, '/hold').catch((e: UpstreamFailure) => e);
  const waiter = lease(p, binding(c, 'alice')).catch((e: UpstreamFailure) => e);
  await waitFor(() => p.stats().waiting === 1 && held.length > 0, 'a held request and a waiter');
  p.forget('alice');
  const [e1, e2] = await Promise.all([inFlight, waiter]);
  assert.equal((e1 as UpstreamFailure).code, 'ERR_UPSTREAM_FORGOTTEN');
  assert.equal((e2 as UpstreamFailure).code, 'ERR_UPSTREAM_FORGOTTEN');
  l.discard();
  assert.equal(await ask(p, binding(c, 'bob')), bobSocket, "bob's connection is untouched");
  await waitFor(() => p.stats().connections === 1, "alice's connection gone");
  assertAllZero(p, c);
  p.destroy();
});

test('retire: a replaced cluster closes idle connections now, busy ones after their request; the new cluster connects anew', async () => {
  const old = cluster([b1.port]);
  const p = pool();
  const idleSocket = await ask(p, binding(old, 'alice'));
  const busy = await lease(p, binding(old, 'bob'));
  p.retire(old);
  await waitFor(() => p.stats().connections === 1, 'the idle connection closed');
  assert.equal((await get(busy, '/echo')).status, 200, 'the busy one finishes its request');
  busy.release(true);
  await waitFor(() => p.stats().connections === 0, 'then closes');
  const next = cluster([b1.port]);
  assert.notEqual(await ask(p, binding(next, 'alice')), idleSocket);
  assertAllZero(p, old, next);
  p.destroy();
});

test('idle close: a connection nobody uses for the keep-alive time is closed', async () => {
  const c = cluster([b1.port]);
  const p = pool({ keepAliveTimeoutMs: 300 });
  const first = await ask(p, binding(c, 'alice'));
  assert.equal(p.stats().connections, 1);
  await waitFor(() => p.stats().connections === 0, 'closed after the keep-alive time', 5000);
  assert.notEqual(await ask(p, binding(c, 'alice')), first);
  assertAllZero(p, c);
  p.destroy();
});

test('a connection the server closed while idle is not handed out', async () => {
  const c = cluster([b1.port]);
  const p = pool();
  const first = await ask(p, binding(c, 'alice'));
  b1.server.closeIdleConnections();
  await waitFor(() => p.stats().connections === 0, 'the pool saw the close');
  assert.notEqual(await ask(p, binding(c, 'alice')), first);
  assertAllZero(p, c);
  p.destroy();
});

test('connect failover: a server that refuses is skipped, the lease moves to the one that answers, counts follow', async () => {
  const dead = await freePort();
  const c = cluster([dead, b2.port]);
  const p = pool();
  const before = b2.requests.length;
  for (let i = 0; i < 4; i++) await ask(p, binding(c, 'alice'));
  assert.equal(b2.requests.length - before, 4, 'every request reached the live server');
  assert.ok(c.servers[0].failedUntil > Date.now(), 'the dead server is in its fail timeout');
  assertAllZero(p, c);
  p.destroy();
});

test('no server reachable: the lease fails with ERR_UPSTREAM_UNAVAILABLE and nothing stays counted', async () => {
  const c = cluster([await freePort(), await freePort()]);
  const p = pool();
  await assert.rejects(lease(p, binding(c, 'alice')), (e: UpstreamFailure) => e.code === 'ERR_UPSTREAM_UNAVAILABLE' && /ECONNREFUSED/.test(e.message));
  assertAllZero(p, c);
  assert.equal(p.stats().connections, 0);
  p.destroy();
});

test('close: idle connections close at once, a busy one when its request is done', async () => {
  const c = cluster([b1.port]);
  const p = pool();
  await ask(p, binding(c, 'alice'));
  const l = await lease(p, binding(c, 'bob'));
  p.close();
  await waitFor(() => p.stats().connections === 1, 'the idle one closed');
  assert.equal((await get(l, '/echo')).status, 200);
  l.release(true);
  await waitFor(() => p.stats().connections === 0, 'the busy one after its request');
  assertAllZero(p, c);
  p.destroy();
});
