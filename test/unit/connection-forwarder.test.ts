/**
 * Connection mode's forwarder in-process (no proxy process): a real TLS client
 * whose connection an edge-side TLS server hands to `forwardConnection`, real
 * TLS upstreams on loopback. Bytes both ways with failover past a dead server,
 * each outcome (closed, upstream-unavailable, idle-timeout, alpn-mismatch),
 * how long a client that left is held, and the servers' `active` counts back
 * to zero after each.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { forwardConnection, UpstreamCluster, type ConnectionOutcome, type ForwardConnectionOptions, type UpstreamServer } from '../../src/forward/index.js';
import { generateDevPki, type DevPki } from '../../src/pki/dev/index.js';
import { freePort, listen } from '../helpers/net.js';
import { deferred, waitFor, withTimeout } from '../helpers/wait.js';

let pki: DevPki;
let echo: TlsServer;
let echoAddress: string;
let frozen: TcpServer;
let frozenAddress: string;
const sockets = new Set<Socket>();
const edges: TlsServer[] = [];

const clusterOptions = (servers: string[]) => ({
  name: 'backend', servers, caPem: pki.backendCa.certPem, servername: 'backend.internal', minVersion: 'TLSv1.3' as const,
  balance: 'round-robin' as const, connectTimeoutMs: 2_000, failTimeoutMs: 10_000, connectRaceMs: 300,
});
const cluster = (servers: string[]) => new UpstreamCluster(clusterOptions(servers));

/**
 * An edge-side TLS server that hands each connection to forwardConnection, as
 * connection mode does (half-close on once the handshake is done); `handed`
 * resolves when the first one is handed over, `outcome` with its outcome.
 */
async function edge(upstream: UpstreamCluster, over: Partial<ForwardConnectionOptions> = {}): Promise<{ port: number; handed: Promise<void>; outcome: Promise<ConnectionOutcome> }> {
  const outcome = deferred<ConnectionOutcome>();
  const handed = deferred();
  const server = createTlsServer({ cert: pki.edge.certPem, key: pki.edge.keyPem }, (client: TLSSocket) => {
    sockets.add(client);
    client.allowHalfOpen = true;
    handed.resolve(undefined);
    forwardConnection(client, {
      cluster: upstream, secureContext: upstream.anonymous(), idleTimeoutMs: 10_000, drainAfterUpstreamCloseMs: 1_000, ...over,
    }).then(outcome.resolve);
  });
  edges.push(server);
  return { port: await listen(server), handed: withTimeout(handed.promise, 'the hand-over to the forwarder'), outcome: withTimeout(outcome.promise, 'the forwarder\'s outcome', 10_000) };
}

/** A client of the edge; `received` is what it read until the connection closed; `tcp` its TCP socket (to reset). */
async function client(port: number): Promise<{ socket: TLSSocket; tcp: Socket; received: Promise<string> }> {
  const tcp = tcpConnect({ host: '127.0.0.1', port });
  const socket = tlsConnect({ socket: tcp, servername: 'localhost', ca: pki.edgeCa.certPem });
  sockets.add(socket);
  let data = '';
  socket.on('data', (d: Buffer) => { data += d; });
  socket.on('error', () => {});
  const received = new Promise<string>((resolve) => socket.once('close', () => resolve(data)));
  await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
  return { socket, tcp, received };
}

const activeCounts = (c: UpstreamCluster) => c.servers.map((s) => s.active);
/** The baseline: every server's active count back at zero (an upstream socket's close event comes after the outcome). */
const untilIdle = (c: UpstreamCluster) => waitFor(() => c.servers.every((s) => s.active === 0), `every active count of ${c.name} back at 0 (now ${activeCounts(c).join(', ')})`, 5_000, 10);

describe('connection forwarder', () => {
  before(async () => {
    pki = await generateDevPki();
    // echoes what it reads, and ends when the proxy ends (half-close passed on)
    echo = createTlsServer({ cert: pki.backend.certPem, key: pki.backend.keyPem }, (s) => { sockets.add(s); s.on('error', () => {}); s.pipe(s); });
    echoAddress = `127.0.0.1:${await listen(echo)}`;
    // accepts TCP and never answers the handshake
    frozen = createTcpServer((s) => { sockets.add(s); s.on('error', () => {}); });
    frozenAddress = `127.0.0.1:${await listen(frozen)}`;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    for (const server of [echo, frozen, ...edges]) await new Promise<void>((r) => server.close(() => r()));
  });

  it('pipes both ways to the server that answers, past a dead one, and leaves no active count behind', async () => {
    const upstream = cluster([`127.0.0.1:${await freePort()}`, echoAddress]);
    const connected = deferred<UpstreamServer>();
    const { port, outcome } = await edge(upstream, { onConnected: connected.resolve });
    const { socket, received } = await client(port);
    socket.write('ping');
    const server = await withTimeout(connected.promise, 'the upstream connection');
    assert.equal(server.address, echoAddress);
    assert.deepEqual(activeCounts(upstream), [0, 1], 'one piped connection, on the server that answered');
    socket.end();
    assert.equal(await received, 'ping');
    const result = await outcome;
    assert.equal(result.outcome, 'closed', result.reason);
    assert.equal(result.server, echoAddress);
    assert.deepEqual([result.bytesIn, result.bytesOut], [4, 4]);
    await untilIdle(upstream);
    assert.equal(upstream.servers[0].down, true, 'the dead server is marked down');
  });

  it('closes the client with outcome upstream-unavailable when no server is reachable', async () => {
    const upstream = cluster([`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`]);
    const { port, outcome } = await edge(upstream);
    const { received } = await client(port);
    assert.equal(await received, '', 'closed without a byte');
    const result = await outcome;
    assert.equal(result.outcome, 'upstream-unavailable');
    assert.match(String(result.reason), /upstream backend: no server reachable/);
    assert.equal(result.server, undefined);
    assert.deepEqual(activeCounts(upstream), [0, 0]);
  });

  it('closes a connection with no traffic either way after idleTimeoutMs', async () => {
    const upstream = cluster([echoAddress]);
    const { port, outcome } = await edge(upstream, { idleTimeoutMs: 300 });
    const { socket, received } = await client(port);
    socket.write('once');
    const t0 = performance.now();
    await received;
    const result = await outcome;
    assert.equal(result.outcome, 'idle-timeout');
    assert.ok(performance.now() - t0 >= 250, `closed after the idle timeout, not before (${Math.round(performance.now() - t0)} ms)`);
    await untilIdle(upstream);
  });

  it('closes both sides on an ALPN answer other than the one expected, without marking the server down', async () => {
    const upstream = cluster([echoAddress]);
    const mismatched = deferred<UpstreamServer | undefined>();
    const { port, outcome } = await edge(upstream, { expectAlpn: 'h2', onAlpnMismatch: mismatched.resolve });
    await client(port);
    const result = await outcome;
    assert.equal(result.outcome, 'alpn-mismatch');
    assert.match(String(result.reason), /server 127\.0\.0\.1:\d+ answered none/);
    assert.equal((await mismatched.promise)?.address, echoAddress);
    const [server] = upstream.servers;
    assert.deepEqual([server.down ?? false, server.failedUntil, server.active], [false, 0, 0], 'the server is not to blame');
  });

  it('lets a client that leaves while the upstream is still connecting go no later than the connect timeout', async () => {
    // the client's socket is paused (not read) until the upstream answers, so its reset is seen only then:
    // what bounds the wait is the upstream's connectTimeout
    const upstream = new UpstreamCluster({ ...clusterOptions([frozenAddress]), connectTimeoutMs: 500 });
    const { port, handed, outcome } = await edge(upstream);
    const { tcp } = await client(port);
    await handed;
    const t0 = performance.now();
    tcp.resetAndDestroy();
    const result = await outcome;
    const heldMs = performance.now() - t0;
    assert.equal(result.outcome, 'upstream-unavailable', result.reason);
    assert.match(String(result.reason), /no TLS handshake within 500 ms/);
    assert.ok(heldMs < 1_500, `let go after the connect timeout (${Math.round(heldMs)} ms)`);
    assert.deepEqual(activeCounts(upstream), [0], 'nothing was piped');
  });
});
