/**
 * An upstream CA file rewritten in place (the config's text unchanged), then
 * SIGHUP, is applied in every worker (`workers: 2`): each worker reads the
 * file again, sees new bytes and builds a new generation (`changes: files
 * changed: upstreams.backend.ca`), so alice — cached in both workers, with
 * upstream TLS sessions — is refused by the server the old CA vouched for, in
 * connection and http mode. The right CA written back is applied the same way;
 * a file rewritten with garbage is refused and the running CA keeps serving;
 * a SIGHUP with nothing changed builds nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type LogLine, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { readUntilClose, tlsClient, writeIssued } from '../helpers/e2e.js';
import { childPids } from '../helpers/process-ports.js';
import { withTimeout } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let caFile: string;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  await writeIssued(pki.dir, 'unrelated-ca', { subject: 'CN=an unrelated CA', ca: true });
  caFile = `${pki.dir}/upstream-ca.crt`;
  await writeFile(caFile, readFileSync(`${pki.dir}/backend-ca.crt`));
  const config = baseConfig(pki.dir, backend.port) as Record<string, any>;
  config.upstreams.backend.ca = caFile;
  config.routes = [
    { upstream: 'backend', mode: 'connection', match: { sni: 'conn.test' } },
    { upstream: 'backend', mode: 'http' },
  ];
  config.workers = 2;
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => {
  for (const pid of proxy?.child.pid ? await childPids(proxy.child.pid) : []) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  if (proxy?.child.exitCode === null) proxy.child.kill('SIGKILL');
  await backend?.close();
});

const sni = { connection: 'conn.test', http: 'localhost' } as const;

/** One request on a new connection: the status line, or '' when the proxy closed the connection without an answer. */
async function ask(who: string, mode: keyof typeof sni): Promise<string> {
  const s: TLSSocket = await tlsClient(proxy.port, pki.dir, who, { servername: sni[mode], ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined });
  const closed = readUntilClose(s);
  s.write('GET /who HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  return (await withTimeout(closed, `${who} via ${mode} mode`, 10_000)).data.split('\r\n')[0];
}

/** Six requests each way: cluster's round-robin gives each worker several. */
async function aliceSees(): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) for (const mode of ['connection', 'http'] as const) seen.push(await ask('alice', mode));
  return seen;
}

/** SIGHUP to the primary; resolves with the `reload` line of each worker. */
async function sighup(): Promise<LogLine[]> {
  const mark = proxy.logs.length;
  proxy.child.kill('SIGHUP');
  const lines: LogLine[] = [];
  for (const worker of [1, 2]) {
    lines.push(await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.worker === worker && (l.msg === 'reload' || l.msg === 'reload refused; the running config keeps serving'), 20_000));
  }
  return lines;
}

test('alice is served (and cached) by both workers', async () => {
  assert.deepEqual(new Set(await aliceSees()), new Set(['HTTP/1.1 200 OK']));
  const workers = new Set(proxy.logs.filter((l) => l.msg === 'connection' && l.outcome === 'closed').map((l) => l.worker));
  assert.deepEqual([...workers].sort(), [1, 2]);
});

test('a SIGHUP with nothing changed builds nothing', async () => {
  for (const line of await sighup()) {
    assert.equal(line.changes, 'config unchanged', JSON.stringify(line));
    assert.equal(line.generation, 1);
  }
});

test('the CA file rewritten with an unrelated CA, then SIGHUP: every worker applies it, alice is refused in both modes', async () => {
  await writeFile(caFile, readFileSync(`${pki.dir}/unrelated-ca.crt`));
  for (const line of await sighup()) {
    assert.equal(line.outcome, 'ok', JSON.stringify(line));
    assert.equal(line.generation, 2);
    assert.equal(line.changes, 'files changed: upstreams.backend.ca');
  }
  const served = backend.requests.length;
  const seen = await aliceSees();
  assert.deepEqual(seen.filter((_, i) => i % 2 === 0), Array(6).fill(''), 'connection mode: closed, nothing forwarded');
  for (const s of seen.filter((_, i) => i % 2 === 1)) assert.match(s, /^HTTP\/1\.1 502 /, 'http mode: 502');
  assert.equal(backend.requests.length, served);
});

test('garbage written to the CA file is refused (by the primary, as check would); the running CA stays', async () => {
  await writeFile(caFile, 'not a certificate\n');
  const mark = proxy.logs.length;
  proxy.child.kill('SIGHUP');
  const refused = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg.startsWith('reload refused'), 20_000);
  assert.match(JSON.stringify(refused.problems), /upstreams\.backend\.ca/);
  assert.deepEqual(new Set((await aliceSees()).map((s) => s.slice(0, 12))), new Set(['', 'HTTP/1.1 502']), 'still the unrelated CA');
});

test('the right CA written back, then SIGHUP: alice is served again by both workers', async () => {
  await writeFile(caFile, readFileSync(`${pki.dir}/backend-ca.crt`));
  for (const line of await sighup()) assert.equal(line.changes, 'files changed: upstreams.backend.ca', JSON.stringify(line));
  assert.deepEqual(new Set(await aliceSees()), new Set(['HTTP/1.1 200 OK']));
});
