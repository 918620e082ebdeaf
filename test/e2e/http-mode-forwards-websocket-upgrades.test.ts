/**
 * Http mode: a WebSocket upgrade (the `ws` package on both ends) goes through
 * the proxy to the backend on an upstream connection authenticated as the
 * client; messages flow both ways, and a close on either end closes the other.
 * A backend that refuses the upgrade is heard: its status and body reach the client.
 * An upgrade is a request: one `request` line, one audit record and one
 * request metric each (the tunnel's when it closes, with its bytes), and a
 * refusal of the proxy's own carries the own-answer headers (HSTS, nosniff,
 * no-store).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import WebSocket from 'ws';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { identityOfFile } from '../helpers/e2e.js';
import { scrape } from '../helpers/admin-client.js';
import { metricValue } from '../helpers/prometheus-text.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let auditFile: string;
let admin: string;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir, websocket: true });
  auditFile = join(pki.dir, 'audit.jsonl');
  admin = `${pki.dir}/admin.sock`; // a unix socket: no port to race other tests for
  proxy = await startProxyProcess(await writeConfig(pki.dir, {
    ...baseConfig(pki.dir, backend.port, { mode: 'http', allow: { cn: ['alice', 'bob'] } }), audit: { file: auditFile }, admin: { listen: admin },
  }));
});

type Rec = Record<string, unknown>;
const auditRecords = async (): Promise<Rec[]> => (await readFile(auditFile, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec);
const requestsMetric = async (labels: Record<string, string>) => metricValue(await scrape(admin), 'countersign_requests_total', labels);
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
  alice.close(1000, 'bye');
  const [code] = await once(alice, 'close');
  assert.equal(code, 1000, 'the close handshake went through the proxy');
  // the upgrade is one request, recorded when its tunnel closed
  const line = await proxy.waitForLog((l) => l.msg === 'request' && l.path === '/chat' && l.identity === identityOfFile(pki.dir, 'alice'));
  assert.equal(line.status, 101);
  assert.equal(line.outcome, 'upgraded');
  assert.equal(line.method, 'GET');
  assert.ok(Number(line.bytesOut) > 0 && Number(line.bytesIn) > 0, JSON.stringify(line));
  assert.equal(proxy.logs.filter((l) => l.msg === 'request' && l.path === '/chat' && l.identity === identityOfFile(pki.dir, 'alice')).length, 1);
  const rec = await waitFor(async () => (await auditRecords()).find((r) => r.kind === 'request' && r.path === '/chat' && r.identity === identityOfFile(pki.dir, 'alice')), 'the audit record of the upgrade');
  assert.equal(rec.status, 101);
  assert.equal(rec.outcome, 'upgraded');
  assert.ok(rec.serial, 'the minted serial is recorded');
  assert.equal(await requestsMetric({ status: '101', outcome: 'upgraded' }), 1);
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

test("a refused upgrade is the proxy's own answer: its headers, one record and one metric", async () => {
  await writeCertificateOf('mallory');
  const ws = new WebSocket(`wss://localhost:${proxy.port}/chat`, {
    ca: readFileSync(`${pki.dir}/edge-ca.crt`), cert: readFileSync(`${pki.dir}/mallory.crt`), key: readFileSync(`${pki.dir}/mallory.key`),
  });
  ws.on('error', () => { /* the refusal ends the handshake */ });
  const [, res] = await once(ws, 'unexpected-response') as [unknown, import('node:http').IncomingMessage];
  assert.equal(res.statusCode, 403, 'mallory is not in the route\'s allow rule');
  assert.equal(res.headers['strict-transport-security'], 'max-age=31536000');
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['cache-control'], 'no-store');
  res.resume();
  const rec = await waitFor(async () => (await auditRecords()).find((r) => r.kind === 'request' && r.path === '/chat' && r.status === 403), 'the audit record of the refused upgrade');
  assert.equal(rec.outcome, 'refused');
  assert.equal(await requestsMetric({ status: '403', outcome: 'refused' }), 1);
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
  const line = await proxy.waitForLog((l) => l.msg === 'request' && l.path === '/forbidden/chat');
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
    const line = await other.waitForLog((l) => l.msg === 'request' && l.status === 502);
    assert.equal(line.outcome, 'upstream-error');
    assert.equal(other.child.exitCode, null, 'still running');
  } finally {
    await other.stop();
  }
});

async function writeCertificateOf(name: string): Promise<void> {
  const { writeIssued } = await import('../helpers/e2e.js');
  await writeIssued(pki.dir, name, { subject: `CN=${name}, O=countersign dev`, issuer: pki.pki.clientCa });
}
