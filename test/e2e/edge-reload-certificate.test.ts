/**
 * Hot reload through the real CLI: a new edge certificate written over the old
 * files is served to new handshakes while an open connection keeps working; a
 * broken replacement is refused with a log line and the previous certificate
 * keeps being served; SIGHUP forces a reload.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { issueCertificate } from '../../src/pki/dev/index.js';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  const cfg = baseConfig(pki.dir, backend.port, { mode: 'http' });
  (cfg.edge as Record<string, unknown>).reloadPollInterval = '200ms';
  proxy = await startProxyProcess(await writeConfig(pki.dir, cfg));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

function open(): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({
      host: '127.0.0.1', port: proxy.port, servername: 'localhost', ALPNProtocols: ['http/1.1'],
      ca: readFileSync(join(pki.dir, 'edge-ca.crt')), cert: readFileSync(join(pki.dir, 'alice.crt')), key: readFileSync(join(pki.dir, 'alice.key')),
    }, () => resolve(s));
    s.once('error', reject);
  });
}

function get(s: TLSSocket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = /content-length: (\d+)/i.exec(buf);
      const end = buf.indexOf('\r\n\r\n');
      if (m && end >= 0 && buf.length >= end + 4 + Number(m[1])) { s.off('data', onData); resolve(buf); }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  });
}

async function servedSerial(): Promise<string> {
  const s = await open();
  const serial = s.getPeerX509Certificate()!.serialNumber;
  s.destroy();
  return serial;
}

async function replaceEdge(certPem: string, keyPem: string): Promise<void> {
  // write-then-rename, as cert-manager and most deploy tools do
  await writeFile(join(pki.dir, 'edge.key.tmp'), keyPem, { mode: 0o600 });
  await writeFile(join(pki.dir, 'edge.crt.tmp'), certPem);
  await rename(join(pki.dir, 'edge.key.tmp'), join(pki.dir, 'edge.key'));
  await rename(join(pki.dir, 'edge.crt.tmp'), join(pki.dir, 'edge.crt'));
}

test('a renewed certificate is served to new handshakes and the open connection survives', async () => {
  const before = await servedSerial();
  const live = await open();
  assert.match(await get(live, '/one'), /^HTTP\/1\.1 200/);
  const renewed = await issueCertificate({ subject: 'CN=localhost', issuer: pki.pki.edgeCa, usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  await replaceEdge(renewed.certPem, renewed.keyPem);
  await waitFor(async () => (await servedSerial()) === renewed.cert.serialNumber, 'the renewed certificate');
  assert.notEqual(before, renewed.cert.serialNumber);
  assert.match(await get(live, '/two'), /^HTTP\/1\.1 200/, 'the connection opened before the reload still works');
  live.destroy();
  await proxy.waitForLog((l) => l.msg === 'server certificate reloaded');
});

test('a broken replacement is refused with a log line and the previous certificate stays', async () => {
  const current = await servedSerial();
  await writeFile(join(pki.dir, 'edge.crt'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
  const line = await proxy.waitForLog((l) => l.msg === 'server certificate reload refused; still serving the previous one');
  assert.ok(String(line.reason ?? line.code ?? '').length > 0);
  assert.equal(await servedSerial(), current);
});

test('a key that does not match is refused too, and SIGHUP after a fix reloads at once', async () => {
  const other = await issueCertificate({ subject: 'CN=localhost', issuer: pki.pki.edgeCa, usage: 'server', dnsNames: ['localhost'] });
  const fixed = await issueCertificate({ subject: 'CN=localhost', issuer: pki.pki.edgeCa, usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const current = await servedSerial();
  const refusedBefore = proxy.logs.filter((l) => l.msg === 'server certificate reload refused; still serving the previous one').length;
  await replaceEdge(fixed.certPem, other.keyPem);
  await waitFor(() => proxy.logs.filter((l) => l.msg === 'server certificate reload refused; still serving the previous one').length > refusedBefore, 'the refusal log line');
  assert.equal(await servedSerial(), current);
  await replaceEdge(fixed.certPem, fixed.keyPem);
  proxy.child.kill('SIGHUP');
  await waitFor(async () => (await servedSerial()) === fixed.cert.serialNumber, 'the fixed certificate');
  await proxy.waitForLog((l) => l.msg === 'reload');
});
