/**
 * Two countersign processes with one `edge.sessionTickets.keyFile` (80 bytes,
 * `openssl rand 80`): a TLS session `openssl s_client -sess_out` got from one
 * resumes (`-sess_in`) on the other, in TLS 1.3 and 1.2. Without the key file,
 * the same does not resume (each process draws its own keys). Replacing the
 * file rotates the key on both: old sessions stop resuming, new ones resume
 * across the pair again; a bad file is refused and the previous key stays.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseConfig, makePki, runCli, startProxyProcess, writeConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { runCommand } from '../helpers/run-command.js';
import { atomicWrite } from '../helpers/edge-tls.js';

let pki: TestPki;
let dir: string;
let keyFile: string;
const started: ProxyProcess[] = [];

before(async () => {
  pki = await makePki();
  dir = await mkdtemp(join(tmpdir(), 'countersign-tickets-'));
  keyFile = join(dir, 'tickets.key');
  await writeFile(keyFile, randomBytes(80), { mode: 0o600 });
});
after(async () => {
  await Promise.all(started.map((p) => p.stop()));
  await rm(dir, { recursive: true, force: true });
});

/** http mode to an upstream nobody listens on: the proxy answers 502 itself, after the handshake */
async function instance(name: string, sessionTickets?: { keyFile: string }): Promise<ProxyProcess> {
  const config = baseConfig(pki.dir, 9, { mode: 'http' }, sessionTickets ? { sessionTickets } : {});
  const p = await startProxyProcess(await writeConfig(dir, { ...config, edge: { ...(config.edge as object), reloadPollInterval: '200ms' } }, `${name}.yaml`));
  started.push(p);
  return p;
}

/** One connection with openssl s_client; returns whether the session was reused. */
async function sClient(port: number, version: '-tls1_3' | '-tls1_2', sess: { out?: string; in?: string }): Promise<boolean> {
  const r = await runCommand('openssl', [
    's_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', version, '-ign_eof',
    '-CAfile', `${pki.dir}/edge-ca.crt`, '-cert', `${pki.dir}/alice.crt`, '-key', `${pki.dir}/alice.key`,
    ...(sess.out ? ['-sess_out', sess.out] : []), ...(sess.in ? ['-sess_in', sess.in] : []),
  ], { input: 'GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', timeoutMs: 20_000 });
  assert.match(r.stdout, /HTTP\/1\.1 502/, `the proxy answered: ${r.stdout}${r.stderr}`);
  const m = r.stdout.match(/^(New|Reused), TLSv1\.[23]/m);
  assert.ok(m, r.stdout);
  return m[1] === 'Reused';
}

test('a session from one instance resumes on the other with a shared key file (TLS 1.3 and 1.2)', async () => {
  const [a, b] = await Promise.all([instance('a', { keyFile }), instance('b', { keyFile })]);
  for (const v of ['-tls1_3', '-tls1_2'] as const) {
    const sess = join(dir, `a${v}.sess`);
    assert.equal(await sClient(a.port, v, { out: sess }), false);
    assert.equal(await sClient(b.port, v, { in: sess }), true, `${v}: A's session resumed on B`);
    assert.equal(await sClient(a.port, v, { in: sess }), true, `${v}: and on A itself`);
  }
});

test('without a key file, a session from one instance does not resume on another', async () => {
  const [a, b] = await Promise.all([instance('plain-a'), instance('plain-b')]);
  const sess = join(dir, 'plain.sess');
  assert.equal(await sClient(a.port, '-tls1_3', { out: sess }), false);
  assert.equal(await sClient(a.port, '-tls1_3', { in: sess }), true, 'resumes on the instance that issued it');
  assert.equal(await sClient(b.port, '-tls1_3', { in: sess }), false, 'not on the other');
});

test('replacing the key file rotates the key on both; a bad file is refused and the key stays', async () => {
  const own = join(dir, 'rotating.key');
  await writeFile(own, randomBytes(80), { mode: 0o600 });
  const [a, b] = await Promise.all([instance('rot-a', { keyFile: own }), instance('rot-b', { keyFile: own })]);
  const old = join(dir, 'old.sess');
  assert.equal(await sClient(a.port, '-tls1_3', { out: old }), false);

  const [markA, markB] = [a.logs.length, b.logs.length];
  await atomicWrite(own, randomBytes(80), 0o600);
  await Promise.all([
    a.waitForLog((l) => l.msg === 'session-ticket key reloaded' && a.logs.indexOf(l) >= markA, 15_000),
    b.waitForLog((l) => l.msg === 'session-ticket key reloaded' && b.logs.indexOf(l) >= markB, 15_000),
  ]);
  assert.equal(await sClient(b.port, '-tls1_3', { in: old }), false, 'a session under the old key makes a full handshake');
  const fresh = join(dir, 'fresh.sess');
  assert.equal(await sClient(b.port, '-tls1_3', { out: fresh }), false);
  assert.equal(await sClient(a.port, '-tls1_3', { in: fresh }), true, 'the new key is shared again');

  // a truncated key: refused with a log line, the previous key keeps working
  const markBad = a.logs.length;
  await atomicWrite(own, randomBytes(20), 0o600);
  const bad = await a.waitForLog((l) => l.msg.startsWith('session-ticket key not reloaded') && a.logs.indexOf(l) >= markBad, 15_000);
  assert.match(String(bad.reason), /holds 80 or 48 random bytes.*not 20/);
  assert.equal(await sClient(b.port, '-tls1_3', { in: fresh }), true, 'the previous key still resumes');
});

test('check and start refuse a key file of the wrong size with ERR_TICKET_KEY\'s message', async () => {
  const badKey = join(dir, 'bad.key');
  await writeFile(badKey, randomBytes(64), { mode: 0o600 });
  const file = await writeConfig(dir, baseConfig(pki.dir, 9, { mode: 'http' }, { sessionTickets: { keyFile: badKey } }), 'bad.yaml');
  const check = await runCli(['check', '--config', file]);
  assert.equal(check.code, 1);
  assert.match(check.stderr + check.stdout, /edge\.sessionTickets\.keyFile: a session-ticket key file holds 80 or 48 random bytes .*not 64/);
  const start = await runCli(['start', '--config', file]);
  assert.equal(start.code, 1);
  assert.match(start.stderr, /holds 80 or 48 random bytes/);
});
