/**
 * A proxy listening on IPv6 loopback names its address as the config writes
 * one (`[::1]:PORT`) in /status, in its log and per listener, so the text can
 * be pasted back into a config or a client; `::1:PORT` cannot.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { writeClientCertificates } from '../helpers/e2e.js';
import { adminJson } from '../helpers/admin-client.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let admin: string;

before(async () => {
  pki = await makePki();
  await writeClientCertificates(pki);
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' });
  config.listen = '[::1]:0';
  config.admin = { listen: '127.0.0.1:0' };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
  admin = String((await proxy.waitForLog((l) => l.msg === 'admin listening')).admin);
});
after(async () => {
  if (proxy?.child.exitCode === null) proxy.child.kill('SIGKILL');
  await backend?.close();
});

test('/status and the listening log line give [::1]:PORT, and a client reaches the proxy there', async () => {
  const listening = await proxy.waitForLog((l) => l.msg === 'countersign listening');
  assert.match(String(listening.listen), /^\[::1\]:\d+$/);
  const status = (await adminJson<{ listen: string; listeners: { address: string }[] }>(admin, '/status')).body;
  assert.equal(status.listen, listening.listen);
  assert.ok(status.listeners.every((l) => /^\[::1\]:\d+$/.test(l.address)), JSON.stringify(status.listeners));
  const port = Number(/\]:(\d+)$/.exec(status.listen)![1]);
  const socket = connect({
    host: '::1', port, servername: 'localhost', ca: readFileSync(`${pki.dir}/edge-ca.crt`),
    cert: readFileSync(`${pki.dir}/alice.crt`), key: readFileSync(`${pki.dir}/alice.key`),
  });
  await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
  socket.destroy();
});
