/**
 * Http mode: a WebSocket upgrade (the `ws` package on both ends) goes through
 * the proxy to the backend on an upstream connection authenticated as the
 * client; messages flow both ways, and a close on either end closes the other.
 * A backend that refuses the upgrade is heard: its status and body reach the client.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import WebSocket from 'ws';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { identityOfFile } from '../helpers/e2e.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir, websocket: true });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'http' })));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

function open(who: string): Promise<WebSocket> {
  const ws = new WebSocket(`wss://localhost:${proxy.port}/chat`, {
    ca: readFileSync(`${pki.dir}/edge-ca.crt`), cert: readFileSync(`${pki.dir}/${who}.crt`), key: readFileSync(`${pki.dir}/${who}.key`),
  });
  return new Promise((resolve, reject) => { ws.once('open', () => resolve(ws)); ws.once('error', reject); ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`))); });
}

function next(ws: WebSocket): Promise<string> {
  return once(ws, 'message').then(([data]) => String(data));
}

test('alice and bob each talk over their own upgraded connection, as themselves', async () => {
  const [alice, bob] = await Promise.all([open('alice'), open('bob')]);
  assert.deepEqual(new Set(backend.wsClients), new Set([identityOfFile(pki.dir, 'alice'), identityOfFile(pki.dir, 'bob')]), 'the backend identified both');
  for (let i = 0; i < 3; i++) {
    const [a, b] = [next(alice), next(bob)];
    alice.send(`a${i}`);
    bob.send(`b${i}`);
    assert.equal(await a, `${identityOfFile(pki.dir, 'alice')}:a${i}`);
    assert.equal(await b, `${identityOfFile(pki.dir, 'bob')}:b${i}`);
  }
  const line = await proxy.waitForLog((l) => l.msg === 'upgrade' && l.identity === identityOfFile(pki.dir, 'alice'));
  assert.equal(line.status, 101);
  assert.equal(line.outcome, 'upgraded');
  alice.close(1000, 'bye');
  const [code] = await once(alice, 'close');
  assert.equal(code, 1000, 'the close handshake went through the proxy');
  // bob's connection is unaffected by alice leaving
  const b = next(bob);
  bob.send('still here');
  assert.equal(await b, `${identityOfFile(pki.dir, 'bob')}:still here`);
  bob.terminate();
});

test('a client without a certificate cannot upgrade', async () => {
  const accepted = backend.wsClients.length;
  const ws = new WebSocket(`wss://localhost:${proxy.port}/chat`, { ca: readFileSync(`${pki.dir}/edge-ca.crt`) });
  ws.on('error', () => { /* the refusal ends the handshake */ });
  const [, res] = await once(ws, 'unexpected-response') as [unknown, { statusCode: number; resume(): void }];
  assert.equal(res.statusCode, 400);
  res.resume();
  assert.equal(backend.wsClients.length, accepted, 'no upgrade reached the backend');
});

test("the backend's refusal of an upgrade reaches the client as it was sent", async () => {
  const ws = new WebSocket(`wss://localhost:${proxy.port}/forbidden/chat`, {
    ca: readFileSync(`${pki.dir}/edge-ca.crt`), cert: readFileSync(`${pki.dir}/alice.crt`), key: readFileSync(`${pki.dir}/alice.key`),
  });
  ws.on('error', () => { /* the refusal ends the handshake */ });
  const [, res] = await once(ws, 'unexpected-response') as [unknown, import('node:http').IncomingMessage];
  assert.equal(res.statusCode, 403, 'the backend\'s status, not a 502');
  let body = '';
  for await (const chunk of res) body += chunk;
  assert.match(body, /no chat for you|Forbidden/);
  const line = await proxy.waitForLog((l) => l.msg === 'upgrade' && l.path === '/forbidden/chat');
  assert.equal(line.status, 403);
  assert.equal(line.outcome, 'not-upgraded');
});

test('an upgrade to an upstream that is down gets a 502 and the proxy keeps serving', async () => {
  const { freePort } = await import('../helpers/edge-tls.js');
  const dead = await freePort();
  const other = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, dead, { mode: 'http' }), 'dead-upstream.yaml'));
  try {
    const ws = new WebSocket(`wss://localhost:${other.port}/chat`, {
      ca: readFileSync(`${pki.dir}/edge-ca.crt`), cert: readFileSync(`${pki.dir}/alice.crt`), key: readFileSync(`${pki.dir}/alice.key`),
    });
    ws.on('error', () => { /* the refusal ends the handshake */ });
    const [, res] = await once(ws, 'unexpected-response') as [unknown, import('node:http').IncomingMessage];
    assert.equal(res.statusCode, 502);
    res.resume();
    const line = await other.waitForLog((l) => l.msg === 'upgrade' && l.status === 502);
    assert.equal(line.outcome, 'upstream-error');
    assert.equal(other.child.exitCode, null, 'still running');
  } finally {
    await other.stop();
  }
});
