/**
 * OCSP for client certificates, answered by a real `openssl ocsp` responder
 * with an index file and a delegated responder certificate (issued by the
 * client CA for OCSP signing). Two proxies ask it: one with `ocsp: hard`,
 * one with `ocsp: soft`. A client whose certificate the responder calls good
 * is served; once the index says revoked, its open connection is closed
 * within the refresh interval and its new ones refused; with the responder
 * down, a client never asked about is refused under `hard` and admitted (the
 * failure logged) under `soft`.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { askOnSocket as ask, tlsClient, readUntilClose, writeIssued } from '../helpers/e2e.js';
import { freePort } from '../helpers/net.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import type { IssuedCertificate } from '../../src/pki/dev/index.js';

let pki: TestPki;
let backend: HttpsBackend;
let responder: ServerProcess;
let hard: ProxyProcess;
let soft: ProxyProcess;
let erin: IssuedCertificate;
let frank: IssuedCertificate;
const REFRESH = '1s';

/** openssl's index.txt: one line per certificate, V (valid) or R (revoked) */
function indexLine(c: IssuedCertificate, revoked: boolean): string {
  const t = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  const subject = '/' + c.cert.subject.split('\n').join('/');
  return [revoked ? 'R' : 'V', t(new Date(c.cert.validTo)), revoked ? t(new Date(Date.now() - 60_000)) : '', c.cert.serialNumber.toUpperCase(), 'unknown', subject].join('\t') + '\n';
}
async function writeIndex(lines: string): Promise<void> {
  await writeFile(join(pki.dir, 'index.txt.tmp'), lines);
  await rename(join(pki.dir, 'index.txt.tmp'), join(pki.dir, 'index.txt'));
}

before(async () => {
  pki = await makePki();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await writeIssued(pki.dir, 'responder', { subject: 'CN=countersign test OCSP responder', issuer: pki.pki.clientCa, usage: 'ocsp' });
  erin = await writeIssued(pki.dir, 'erin', { subject: 'CN=erin, O=countersign test', issuer: pki.pki.clientCa, ocspUrls: [url] });
  frank = await writeIssued(pki.dir, 'frank', { subject: 'CN=frank, O=countersign test', issuer: pki.pki.clientCa, ocspUrls: [url] });
  await writeIndex(indexLine(erin, false) + indexLine(frank, false));
  responder = await startServerProcess({
    command: 'openssl', port, ready: /ACCEPT|Waiting/,
    args: ['ocsp', '-index', join(pki.dir, 'index.txt'), '-port', String(port), '-rsigner', join(pki.dir, 'responder.crt'), '-rkey', join(pki.dir, 'responder.key'), '-CA', join(pki.dir, 'client-ca.crt'), '-ignore_err'],
  });
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  const start = async (ocsp: 'hard' | 'soft') => startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'http' }, {
    clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt`, revocation: { ocsp, refreshInterval: REFRESH, timeout: '2s' } },
  }), `${ocsp}.yaml`));
  hard = await start('hard');
  soft = await start('soft');
});
after(async () => { await hard?.stop(); await soft?.stop(); await backend?.close(); await responder?.stop(); });

const connect = (p: ProxyProcess, who: string) => tlsClient(p.port, pki.dir, who, { ALPNProtocols: ['http/1.1'] });
async function once(p: ProxyProcess, who: string, path: string): Promise<string> {
  const s = await connect(p, who);
  try { return await ask(s, path); } finally { s.destroy(); }
}
const refusal = (p: ProxyProcess, who: string) => p.waitForLog((l) => l.msg === 'client refused' && new RegExp(`CN=${who}`).test(String(l.subject)), 30_000);

test('a client the responder calls revoked has its open connection closed within the refresh interval and is refused', async (t) => {
  const open = await connect(hard, 'erin');
  assert.equal(await ask(open, '/erin-good'), 'HTTP/1.1 200 OK');
  const closed = readUntilClose(open);
  const changed = performance.now();
  await writeIndex(indexLine(erin, true) + indexLine(frank, false));
  await closed;
  t.diagnostic(`closed ${Math.round(performance.now() - changed)} ms after the responder's index said revoked (refresh interval ${REFRESH})`);
  const line = await hard.waitForLog((l) => l.msg === 'connection' && l.outcome === 'revoked');
  assert.match(String(line.subject), /CN=erin/);
  assert.match(await once(hard, 'erin', '/erin-again'), /^HTTP\/1\.1 400/);
  const r = await refusal(hard, 'erin');
  assert.equal(r.reason, 'revoked');
  assert.match(String(r.detail), /OCSP/);
  assert.equal(backend.requests.filter((x) => x.url === '/erin-again').length, 0);
});

test('with the responder down, a client never asked about is refused under hard and admitted under soft', async () => {
  await responder.stop();
  assert.match(await once(hard, 'frank', '/frank-hard'), /^HTTP\/1\.1 400/);
  assert.equal((await refusal(hard, 'frank')).reason, 'revocation unknown');
  assert.equal(await once(soft, 'frank', '/frank-soft'), 'HTTP/1.1 200 OK');
  const warn = await soft.waitForLog((l) => l.msg === 'OCSP request failed' && /CN=frank/.test(String(l.subject)));
  assert.match(String(warn.outcome), /admitted/);
});
