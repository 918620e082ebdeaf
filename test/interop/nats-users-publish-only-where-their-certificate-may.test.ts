/**
 * NATS through countersign, against Debian's nats-server 2.9 configured as
 * docs/unaware-backends.md says (its nats.conf block, which
 * examples/nats/nats.conf is — checked here: TLS, the delegation CA as its only client CA,
 * `verify_and_map` users named by their certificate's subject, each with its
 * own subjects), the proxy running examples/nats/countersign.yaml (a
 * `starttls: nats` listener). NATS 2.9 speaks first: countersign relays the
 * server's INFO, the client starts TLS right after it (with countersign), and
 * the minted certificate opens TLS to the server. alice (the `nats` npm
 * client) publishes and receives on her subjects; bob's publish to alice's
 * subject is a permissions violation and never reaches her; a client the edge
 * admits but NATS does not map is refused by NATS; a client that skips TLS
 * gets `-ERR 'Secure Connection - TLS Required'` and one log line.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, StringCodec, type NatsConnection, type Status } from 'nats';
import { makePki, writeConfig, startProxyProcess, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startNats, natsDocConf, natsExampleFile, type NatsServer } from '../helpers/nats.js';
import { exampleConfig } from '../helpers/examples.js';
import { logsSince, readUntilClose, tcpClient } from '../helpers/e2e.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

let pki: TestPki;
let nats: NatsServer;
let proxy: ProxyProcess;
let port: number;
const sc = StringCodec();

before(async () => {
  pki = await makePki();
  nats = await startNats({ pkiDir: pki.dir });
  const config = exampleConfig('nats', pki.dir, { nats: [`127.0.0.1:${nats.port}`] });
  config.listeners[0].listen = '127.0.0.1:0';
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
  const listening = await proxy.waitForLog((l) => l.msg === 'countersign listening');
  port = Number(String((listening.listeners as Record<string, string>).nats).split(':').pop());
});
after(async () => { await proxy?.stop(); await nats?.stop(); });

function as(who: string): Promise<NatsConnection> {
  const read = (f: string) => readFileSync(`${pki.dir}/${f}`, 'utf8');
  return connect({
    servers: `localhost:${port}`, timeout: 10_000, reconnect: false,
    tls: { ca: read('edge-ca.crt'), cert: read(`${who}.crt`), key: read(`${who}.key`) },
  });
}

/** The status events of a connection, kept as they come. */
function statuses(nc: NatsConnection): Status[] {
  const seen: Status[] = [];
  void (async () => { for await (const s of nc.status()) seen.push(s); })();
  return seen;
}

test('alice publishes and receives on her own subjects', async () => {
  const alice = await as('alice');
  try {
    const sub = alice.subscribe('alice.inbox', { max: 1 });
    const got = (async () => { for await (const m of sub) return sc.decode(m.data); })();
    await alice.flush();
    alice.publish('alice.inbox', sc.encode('hello from alice'));
    assert.equal(await withTimeout(got, 'alice receives her message'), 'hello from alice');
    const r = await alice.request('alice.echo', sc.encode('x'), { timeout: 200 }).catch((err: Error & { code?: string }) => err.code);
    assert.equal(r, '503', 'no responder, but no permissions violation either');
  } finally {
    await alice.close();
  }
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.listener === 'nats' && l.subject === 'CN=alice, O=countersign dev');
  assert.equal(line.upstream, 'nats');
  assert.equal(line.outcome, 'closed');
});

test('bob may not publish where only alice may: a permissions violation, and alice never sees it', async () => {
  const alice = await as('alice');
  const bob = await as('bob');
  const bobStatus = statuses(bob);
  try {
    const received: string[] = [];
    const sub = alice.subscribe('alice.inbox');
    void (async () => { for await (const m of sub) received.push(sc.decode(m.data)); })();
    await alice.flush();
    bob.publish('alice.inbox', sc.encode('from bob'));
    await bob.flush();
    const violation = await waitFor(() => bobStatus.find((s) => s.data === 'PERMISSIONS_VIOLATION'), 'bob gets a permissions violation');
    assert.deepEqual((violation as Status & { permissionContext?: unknown }).permissionContext, { operation: 'publish', subject: 'alice.inbox', queue: undefined });
    // bob on his own subject is fine, and alice still only has her own messages
    bob.publish('bob.outbox', sc.encode('ok'));
    await bob.flush();
    alice.publish('alice.inbox', sc.encode('marker'));
    await waitFor(() => received.includes('marker'), 'alice receives her marker');
    assert.deepEqual(received, ['marker']);
  } finally {
    await bob.close();
    await alice.close();
  }
});

test('a client the edge admits but NATS maps to no user is refused by NATS', async () => {
  await assert.rejects(as('root'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'AUTHORIZATION_VIOLATION', err.message);
    return true;
  });
  assert.match(nats.output(), /Authorization Violation|User "CN=root[^"]*" not found|not (found|authorized)/i);
});

test('a client that skips TLS gets NATS\'s -ERR after the INFO, and one log line', async () => {
  const mark = proxy.logs.length;
  const raw = await tcpClient(port);
  const all = readUntilClose(raw);
  const info = await new Promise<string>((r) => raw.once('data', (d: Buffer) => r(d.toString())));
  const parsed = JSON.parse(info.replace(/^INFO\s+/, '').trim()) as Record<string, unknown>;
  assert.equal(parsed.tls_required, true);
  assert.ok(parsed.server_id, 'the server\'s own INFO, relayed');
  raw.write('CONNECT {"verbose":false}\r\nPING\r\n');
  const { data } = await all;
  assert.equal(data.replace(info, ''), "-ERR 'Secure Connection - TLS Required'\r\n");
  const line = await proxy.waitForLog((l) => l.outcome === 'handshake-failed' && l.listener === 'nats' && proxy.logs.indexOf(l) >= mark);
  assert.equal(line.reason, 'ERR_EDGE_PREAMBLE');
  assert.match(String(line.detail), /NATS client sent "CONNECT" instead of starting TLS/);
  // every line the proxy wrote for it by now (a SIGUSR1 barrier), not only those written before the awaited one
  const lines = await logsSince(proxy, mark);
  assert.equal(lines.filter((l) => l.msg !== 'connection').length, 1, JSON.stringify(lines));
});

test('examples/nats/nats.conf is the docs\' block this test runs', () => {
  assert.equal(natsExampleFile('nats.conf'), natsDocConf('certs'));
});
