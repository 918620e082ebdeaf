/**
 * Upstream TLS session resumption (upstream-cluster.ts) over real TLS on
 * loopback: a session is resumed by any cluster object with the same CA,
 * servername and minVersion (a reload that keeps them), and never under
 * another CA or servername — OpenSSL restores the old verdict on a resumed
 * session, so resuming there would skip the checks the new settings make.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { UpstreamCluster, upstreamTlsDigest, type UpstreamClusterOptions } from '../../src/forward/index.js';
import { generateDevPki, issueCertificate, type DevPki } from '../../src/pki/dev/index.js';
import { waitFor } from '../helpers/wait.js';

let pki: DevPki;
let unrelatedCa: string;
let server: Server;
let port: number;
const accepted: TLSSocket[] = [];

before(async () => {
  pki = await generateDevPki();
  unrelatedCa = (await issueCertificate({ subject: 'CN=an unrelated CA', ca: true })).certPem;
  server = createServer({ cert: pki.backend.certPem, key: pki.backend.keyPem, minVersion: 'TLSv1.3' }, (s) => {
    accepted.push(s);
    s.on('error', () => {});
    s.end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => { for (const s of accepted) s.destroy(); server.close(() => r()); }));

const cluster = (o: Partial<UpstreamClusterOptions> = {}) => new UpstreamCluster({
  name: 'be', servers: [`127.0.0.1:${port}`], caPem: pki.backendCa.certPem, servername: 'backend.internal', minVersion: 'TLSv1.3',
  balance: 'round-robin', connectTimeoutMs: 5_000, failTimeoutMs: 1_000, connectRaceMs: 300, ...o,
});

/** Connects once with `sessions`; resolves with whether the session was resumed (after the server's ticket arrived). */
async function connectOnce(c: UpstreamCluster, sessions: Map<string, Buffer>): Promise<boolean> {
  const before = new Set(sessions.values());
  const s = await c.connectTo(c.servers[0], { secureContext: c.anonymous(), sessions });
  const reused = s.isSessionReused();
  if (!reused) await waitFor(() => [...sessions.values()].some((v) => !before.has(v)), 'a session ticket');
  s.destroy();
  return reused;
}

test('the digest follows the CA bundle, servername and minVersion, and nothing else', () => {
  const base = { caPem: 'A', servername: 'n', minVersion: 'TLSv1.3' as const };
  assert.equal(upstreamTlsDigest(base), upstreamTlsDigest({ ...base }));
  assert.notEqual(upstreamTlsDigest(base), upstreamTlsDigest({ ...base, caPem: 'B' }));
  assert.notEqual(upstreamTlsDigest(base), upstreamTlsDigest({ ...base, servername: 'm' }));
  assert.notEqual(upstreamTlsDigest(base), upstreamTlsDigest({ ...base, servername: undefined }));
  assert.notEqual(upstreamTlsDigest(base), upstreamTlsDigest({ ...base, minVersion: 'TLSv1.2' }));
  assert.equal(cluster().tlsDigest, cluster({ servers: ['127.0.0.1:1'], balance: 'least-connections' }).tlsDigest);
});

test('a new cluster object with the same settings (a reload that kept them) resumes the session', async () => {
  const sessions = new Map<string, Buffer>();
  assert.equal(await connectOnce(cluster(), sessions), false);
  assert.equal(await connectOnce(cluster(), sessions), true);
});

test('under an unrelated CA the session is not resumed, and the server is refused', async () => {
  const sessions = new Map<string, Buffer>();
  await connectOnce(cluster(), sessions);
  await assert.rejects(cluster({ caPem: unrelatedCa }).connectTo(cluster().servers[0], { secureContext: cluster({ caPem: unrelatedCa }).anonymous(), sessions }), /verif|certificate/i);
});

test('under another servername the session is not resumed, and the name is checked', async () => {
  const sessions = new Map<string, Buffer>();
  await connectOnce(cluster(), sessions);
  const other = cluster({ servername: 'other.internal' });
  await assert.rejects(other.connectTo(other.servers[0], { secureContext: other.anonymous(), sessions }), /other\.internal/);
});

test('a session kept under new settings replaces the one kept under the old (one per server)', async () => {
  const sessions = new Map<string, Buffer>();
  await connectOnce(cluster(), sessions);
  await connectOnce(cluster({ caPem: `${pki.backendCa.certPem}\n${unrelatedCa}` }), sessions);
  assert.equal(sessions.size, 1);
});
