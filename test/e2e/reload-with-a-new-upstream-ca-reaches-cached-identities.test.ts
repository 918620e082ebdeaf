/**
 * A reload that gives an upstream an unrelated CA reaches every client, those
 * whose minted credentials (with their upstream TLS context and sessions) are
 * cached included, in both modes: after SIGHUP, the server the old CA vouched
 * for is refused for alice and bob (cached, in connection and http mode) as
 * for root (never seen) — a closed connection in connection mode, 502 in http
 * mode — and alice's open connection-mode connection to it is closed after
 * the grace period (`retired`). Swapping the CA back serves them again.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { readUntilClose, tlsClient, writeIssued } from '../helpers/e2e.js';
import { withTimeout } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let config: Record<string, any>;
let generation = 1;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  await writeIssued(pki.dir, 'unrelated-ca', { subject: 'CN=an unrelated CA', ca: true });
  config = baseConfig(pki.dir, backend.port) as Record<string, any>;
  config.routes = [
    { upstream: 'backend', mode: 'connection', match: { sni: 'conn.test' } },
    { upstream: 'backend', mode: 'http' },
  ];
  config.timeouts = { shutdownGrace: '1s' };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => {
  await proxy?.stop();
  await backend?.close();
});

const sni = { connection: 'conn.test', http: 'localhost' } as const;

/** A TLS connection to the proxy as `who`, by the route's name (the edge certificate is for localhost). */
const connect = (who: string, mode: keyof typeof sni): Promise<TLSSocket> =>
  tlsClient(proxy.port, pki.dir, who, { servername: sni[mode], ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined });

/** One request on a new connection: the status line, or '' when the proxy closed the connection without an answer. */
async function ask(who: string, mode: keyof typeof sni): Promise<string> {
  const s = await connect(who, mode);
  const closed = readUntilClose(s);
  s.write('GET /who HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  const { data } = await withTimeout(closed, `${who} via ${mode} mode`, 10_000);
  return data.split('\r\n')[0];
}

async function reloadWith(ca: string): Promise<void> {
  config.upstreams.backend.ca = `${pki.dir}/${ca}`;
  await writeConfig(pki.dir, config);
  const mark = proxy.logs.length;
  proxy.child.kill('SIGHUP');
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'reload');
  assert.equal(line.outcome, 'ok', JSON.stringify(line));
  assert.equal(line.generation, ++generation);
}

test('alice and bob are served and cached, in both modes', async () => {
  for (const who of ['alice', 'bob']) {
    for (const mode of ['connection', 'http'] as const) assert.equal(await ask(who, mode), 'HTTP/1.1 200 OK', `${who} via ${mode}`);
  }
});

test('after a reload to an unrelated CA, nobody reaches the server the old CA vouched for: cached or not, either mode', async () => {
  // alice's connection-mode connection stays open across the reload
  const open = await connect('alice', 'connection');
  const openClosed = readUntilClose(open);
  open.write('GET /open HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await withTimeout(new Promise((r) => open.once('data', r)), 'the open connection is served');
  const served = backend.requests.length;

  await reloadWith('unrelated-ca.crt');
  for (const who of ['alice', 'bob', 'root']) {
    assert.equal(await ask(who, 'connection'), '', `${who} via connection mode: closed, nothing forwarded`);
    assert.match(await ask(who, 'http'), /^HTTP\/1\.1 502 /, `${who} via http mode`);
  }
  assert.equal(backend.requests.length, served, 'no request reached the server');
  const refused = proxy.logs.filter((l) => l.msg === 'connection' && l.outcome === 'upstream-unavailable' && l.identity !== undefined);
  assert.ok(refused.length >= 3, 'each refusal is logged');

  // the open connection was verified under the old CA: closed after the grace period, logged as retired
  await withTimeout(openClosed, 'the open connection is retired', 10_000);
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.outcome === 'retired');
  assert.match(String(line.reason), /verification of upstream backend .*changed by a reload/);
});

test('swapping the CA back serves them again', async () => {
  await reloadWith('backend-ca.crt');
  for (const who of ['alice', 'root']) {
    for (const mode of ['connection', 'http'] as const) assert.equal(await ask(who, mode), 'HTTP/1.1 200 OK', `${who} via ${mode}`);
  }
});

test('a reload to a CA bundle with the unrelated CA and the right one keeps serving', async () => {
  await writeFile(`${pki.dir}/both-cas.crt`, (await readFile(`${pki.dir}/unrelated-ca.crt`, 'utf8')) + (await readFile(`${pki.dir}/backend-ca.crt`, 'utf8')));
  await reloadWith('both-cas.crt');
  assert.equal(await ask('alice', 'connection'), 'HTTP/1.1 200 OK');
  assert.equal(await ask('alice', 'http'), 'HTTP/1.1 200 OK');
});
