/**
 * A header-identity route's `proxyCert` rewritten in place (same paths, the
 * config's text unchanged), then SIGHUP: the next request reaches the backend
 * over a connection presenting the new certificate (`changes: files changed:
 * routes[0].proxyCert`). A certificate written without its key is refused and
 * the running one keeps being presented.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startCapturingBackend, type CapturingBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { issueCertificate } from '../../src/pki/dev/index.js';

let pki: TestPki;
let backend: CapturingBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  const read = (f: string) => readFileSync(`${pki.dir}/${f}`, 'utf8');
  backend = await startCapturingBackend({ certPem: read('backend.crt'), keyPem: read('backend.key'), ca: read('backend-ca.crt') });
  const config = baseConfig(pki.dir, backend.port, {
    mode: 'http', identity: 'header', header: 'rfc9440',
    proxyCert: { cert: `${pki.dir}/proxy-client.crt`, key: `${pki.dir}/proxy-client.key` },
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => {
  await proxy?.stop();
  await backend?.close();
});

/** The subject of the client certificate the backend saw on alice's request. */
async function presented(): Promise<string> {
  const before = backend.requests.length;
  const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/who`));
  assert.equal(r.status, 200, r.body);
  assert.equal(backend.requests.length, before + 1);
  return new X509Certificate(backend.requests.at(-1)!.peerCertDer!).subject;
}

async function sighup(): Promise<Record<string, unknown>> {
  const mark = proxy.logs.length;
  proxy.child.kill('SIGHUP');
  return proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && (l.msg === 'reload' || l.msg.startsWith('reload refused')));
}

test('the proxy certificate rewritten in place is presented after SIGHUP', async () => {
  assert.equal(await presented(), 'CN=countersign proxy');
  const rotated = await issueCertificate({ subject: 'CN=countersign proxy (rotated)', issuer: pki.pki.backendCa, usage: 'client' });
  await writeFile(`${pki.dir}/proxy-client.crt`, rotated.certPem);
  await writeFile(`${pki.dir}/proxy-client.key`, rotated.keyPem, { mode: 0o600 });
  const line = await sighup();
  assert.equal(line.outcome, 'ok', JSON.stringify(line));
  assert.equal(line.changes, 'files changed: routes[0].proxyCert');
  assert.equal(await presented(), 'CN=countersign proxy (rotated)');
});

test('a certificate written without its key is refused; the running one stays', async () => {
  const next = await issueCertificate({ subject: 'CN=countersign proxy (half written)', issuer: pki.pki.backendCa, usage: 'client' });
  await writeFile(`${pki.dir}/proxy-client.crt`, next.certPem);
  const line = await sighup();
  assert.match(String(line.msg), /^reload refused/);
  assert.match(JSON.stringify(line.problems), /routes\[0\]\.proxyCert/);
  assert.equal(await presented(), 'CN=countersign proxy (rotated)');
});
