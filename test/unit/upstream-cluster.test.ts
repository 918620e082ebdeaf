/**
 * The upstream cluster and its connect race, in-process against real TLS
 * servers on loopback (no proxy process): verification and its diagnosis,
 * failover with passive health (down once, backoff, up once), the race past a
 * server that accepts TCP but never answers the handshake, identity-hash
 * stickiness, and TLS sessions scoped to the cluster object.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { UpstreamCluster, type UpstreamClusterOptions } from '../../src/forward/index.js';
import { markDown, markUp, type RaceServer } from '../../src/forward/connect-race.js';
import { isCountersignError } from '../../src/errors.js';
import { generateDevPki, issueCertificate, type DevPki } from '../../src/pki/dev/index.js';
import { freePort, listen } from '../helpers/net.js';

let pki: DevPki;
const servers: TlsServer[] = [];
const serverSockets = new Set<TLSSocket>();
let frozen: TcpServer;
const frozenSockets = new Set<Socket>();

/** A TLS server with the dev backend certificate; answers each connection with its own port. */
async function tlsServer(): Promise<number> {
  const server = createTlsServer({ cert: pki.backend.certPem, key: pki.backend.keyPem, requestCert: true, rejectUnauthorized: false }, (s: TLSSocket) => {
    serverSockets.add(s);
    s.once('close', () => serverSockets.delete(s));
    s.end(String(s.localPort));
  });
  servers.push(server);
  return listen(server);
}

function cluster(over: Partial<UpstreamClusterOptions> & { servers: string[] }): UpstreamCluster {
  return new UpstreamCluster({
    name: 'backend', caPem: pki.backendCa.certPem, servername: 'backend.internal', minVersion: 'TLSv1.3', balance: 'round-robin',
    connectTimeoutMs: 2_000, failTimeoutMs: 10_000, connectRaceMs: 300, ...over,
  });
}

/** What the server sent until it ended; our side is ended too (upstream sockets are half-open). */
const close = (socket: TLSSocket) => new Promise<string>((resolve) => {
  let data = '';
  socket.on('data', (d: Buffer) => { data += d; });
  socket.once('end', () => socket.end());
  socket.once('close', () => resolve(data));
});

describe('upstream cluster', () => {
  before(async () => {
    pki = await generateDevPki();
    // accepts TCP and never says a word: a frozen server
    frozen = createTcpServer((s) => { frozenSockets.add(s); s.on('error', () => {}); });
    await listen(frozen);
  });
  after(async () => {
    for (const s of frozenSockets) s.destroy();
    await new Promise<void>((r) => frozen.close(() => r()));
    for (const s of serverSockets) s.destroy();
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  });

  it('connects with the configured name and CA, and says what is wrong when the certificate does not verify', async () => {
    const port = await tlsServer();
    const ok = await cluster({ servers: [`127.0.0.1:${port}`] }).connect({ secureContext: cluster({ servers: [] }).anonymous() });
    assert.equal(ok.server.address, `127.0.0.1:${port}`);
    assert.equal(await close(ok.socket), String(port));

    const otherCa = await issueCertificate({ subject: 'CN=some other CA', ca: true });
    const wrong = cluster({ servers: [`127.0.0.1:${port}`], caPem: otherCa.certPem });
    await assert.rejects(wrong.connect({ secureContext: wrong.anonymous() }), (err: Error) => {
      assert.ok(isCountersignError(err, 'ERR_UPSTREAM_UNAVAILABLE'));
      assert.match(String((err.cause as Error).message), /backend\.internal|verif|issuer/i);
      return true;
    });
  });

  it('fails over to the next server, marks the dead one down once and skips it until its fail timeout ends', async () => {
    const alive = await tlsServer();
    const dead = await freePort();
    const changes: string[] = [];
    const c = cluster({ servers: [`127.0.0.1:${dead}`, `127.0.0.1:${alive}`], onStateChange: (s, state) => changes.push(`${s.address} ${state}`) });
    for (let i = 0; i < 3; i++) {
      const { socket, server } = await c.connect({ secureContext: c.anonymous() });
      assert.equal(server.address, `127.0.0.1:${alive}`);
      socket.destroy();
    }
    assert.deepEqual(changes, [`127.0.0.1:${dead} down`], 'one line per change, not per failed connect');
    const down = c.servers[0];
    assert.ok(down.failedUntil > Date.now(), 'in its fail timeout');
    assert.equal(c.pick(undefined, Date.now())?.address, `127.0.0.1:${alive}`, 'not picked while in its fail timeout');
    assert.equal(c.pick(undefined, down.failedUntil + 1)?.address !== undefined, true);
  });

  it('races past a server that never answers the handshake: the next one wins after connectRace, and the stalled one is not picked meanwhile', async () => {
    const alive = await tlsServer();
    const frozenPort = (frozen.address() as { port: number }).port;
    const c = cluster({ servers: [`127.0.0.1:${frozenPort}`, `127.0.0.1:${alive}`], connectRaceMs: 200, connectTimeoutMs: 5_000 });
    const t0 = Date.now();
    const { socket, server } = await c.connect({ secureContext: c.anonymous() });
    const took = Date.now() - t0;
    socket.destroy();
    assert.equal(server.address, `127.0.0.1:${alive}`);
    assert.ok(took >= 190 && took < 2_000, `won after the race delay, not the connect timeout: ${took} ms`);
    // the frozen connect is still pending: the server counts as busy
    const stalled = c.servers[0];
    assert.ok((stalled.pending ?? 0) > 0);
    assert.equal(c.pick(undefined, Date.now())?.address, `127.0.0.1:${alive}`);
  });

  it('rejects with every server tried when none answers, naming the upstream', async () => {
    const c = cluster({ servers: [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`] });
    await assert.rejects(c.connect({ secureContext: c.anonymous() }), (err: Error) => isCountersignError(err, 'ERR_UPSTREAM_UNAVAILABLE') && /upstream backend: no server reachable/.test(err.message));
    assert.ok(c.servers.every((s) => s.down), 'both marked down');
  });

  it('keeps an identity on its server with identity-hash', async () => {
    const ports = [await tlsServer(), await tlsServer(), await tlsServer()];
    const c = cluster({ servers: ports.map((p) => `127.0.0.1:${p}`), balance: 'identity-hash' });
    for (const who of ['alice', 'bob', 'carol', 'dave']) {
      const first = c.pick(undefined, Date.now(), who)!.address;
      for (let i = 0; i < 5; i++) assert.equal(c.pick(undefined, Date.now(), who)!.address, first, who);
    }
  });

  it('resumes a TLS session only under the settings that verified it (another CA bundle starts afresh)', async () => {
    const port = await tlsServer();
    const sessions = new Map<string, Buffer>();
    const first = cluster({ servers: [`127.0.0.1:${port}`] });
    const connect = async (c: UpstreamCluster) => {
      const { socket } = await c.connect({ secureContext: c.anonymous(), sessions });
      const reused = socket.isSessionReused();
      await close(socket); // TLS 1.3 tickets arrive after the handshake: saved by the time it closes
      return reused;
    };
    assert.equal(await connect(first), false);
    assert.equal(await connect(first), true, 'the same cluster resumes');
    // a reload's cluster with the same settings: same digest, the session is as good as before
    const same = cluster({ servers: [`127.0.0.1:${port}`] });
    assert.equal(same.tlsDigest, first.tlsDigest);
    assert.equal(await connect(same), true);
    // another CA bundle (that also verifies the server): Node would skip the checks on a resumed session, so none is resumed
    const otherCa = cluster({ servers: [`127.0.0.1:${port}`], caPem: `${pki.backendCa.certPem}\n${pki.edgeCa.certPem}` });
    assert.notEqual(otherCa.tlsDigest, first.tlsDigest);
    assert.equal(await connect(otherCa), false, 'never resumed under settings that did not verify it');
  });
});

describe('passive health state', () => {
  it('doubles the skip time per consecutive failure up to six fail timeouts, and tells each change once', () => {
    const server: RaceServer = { address: 's', failedUntil: 0 };
    const changes: string[] = [];
    const health = { failTimeoutMs: 1_000, onStateChange: (_s: RaceServer, state: string, d: { retryInMs?: number }) => changes.push(`${state} ${d.retryInMs ?? ''}`) };
    const skips: number[] = [];
    for (let i = 0; i < 5; i++) { markDown(server, health, 'refused', 0); skips.push(server.failedUntil); }
    assert.deepEqual(skips, [1_000, 2_000, 4_000, 6_000, 6_000]);
    markUp(server, health);
    markUp(server, health);
    assert.deepEqual(changes, ['down 1000', 'up '], 'one down, one up');
    assert.equal(server.failedUntil, 0);
    assert.equal(server.failures, 0);
  });
});
