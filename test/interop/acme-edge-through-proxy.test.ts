/**
 * ACME at the edge of the real proxy (`countersign start`): Pebble issues the
 * edge certificate over tls-alpn-01 answered on countersign's own listener, then
 * a client reaches the backend through it with that certificate; `certs status`
 * reports it; a restart reuses the stored certificate without a new order.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, runCli, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { freePort } from '../helpers/net.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { runCommand } from '../helpers/run-command.js';

const DOMAIN = 'kes.countersign.test';
let pki: TestPki;
let pebble: Pebble;
let backend: HttpsBackend;
let proxy: ProxyProcess | undefined;
let configFile: string;
let edgePort: number;
let rootPem: string;

before(async () => {
  pki = await makePki();
  edgePort = await freePort();
  pebble = await startPebble({ httpPort: await freePort(), tlsPort: edgePort });
  await pebble.addDomain(DOMAIN);
  await writeFile(join(pki.dir, 'pebble-https-ca.crt'), pebble.httpsCa);
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  configFile = await writeConfig(pki.dir, {
    listen: `127.0.0.1:${edgePort}`,
    edge: {
      clientAuth: { mode: 'require', ca: 'client-ca.crt' },
      acme: { directory: pebble.directoryUrl, ca: 'pebble-https-ca.crt', domains: [DOMAIN], challenge: 'tls-alpn-01', storage: 'acme', email: 'ops@countersign.test' },
    },
    delegation: { ca: { cert: 'delegation-ca.crt', key: 'delegation-ca.key' } },
    upstreams: { app: { servers: [`127.0.0.1:${backend.port}`], ca: 'backend-ca.crt', servername: 'backend.internal' } },
    routes: [{ upstream: 'app', mode: 'http' }],
  });
  proxy = await startProxyProcess(configFile);
  rootPem = '';
});
after(async () => { await proxy?.stop(); await backend?.close(); await pebble?.stop(); });

async function curlThroughAcmeCert(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (!rootPem) { rootPem = await pebble.issuingRoot(); await writeFile(join(pki.dir, 'pebble-root.crt'), rootPem); }
  return runCommand('curl', ['-sS', '--max-time', '5', '--resolve', `${DOMAIN}:${edgePort}:127.0.0.1`, '--cacert', join(pki.dir, 'pebble-root.crt'),
    '--cert', `${pki.dir}/alice.crt`, '--key', `${pki.dir}/alice.key`, `https://${DOMAIN}:${edgePort}/hello`]);
}

test('the proxy obtains its edge certificate from Pebble over tls-alpn-01 and serves clients with it', async () => {
  const issued = await proxy!.waitForLog((l) => l.msg === 'ACME certificate issued', 30_000);
  assert.equal(issued.domain, DOMAIN);
  const r = await curlThroughAcmeCert();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /alice/, 'the backend saw alice through the ACME-served edge');
});

test('certs status lists the ACME certificate with its issuer and expiry', async () => {
  const r = await runCli(['certs', 'status', '--config', configFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(DOMAIN.replace(/\./g, '\\.')));
  assert.match(r.stdout, /acme/);
  assert.match(r.stdout, /Pebble Intermediate/i);
});

test('after a restart the stored certificate is served again without a new order', async () => {
  await proxy!.stop();
  proxy = await startProxyProcess(configFile);
  await proxy.waitForLog((l) => l.msg === 'ACME certificate loaded from storage', 10_000);
  const r = await curlThroughAcmeCert();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(proxy.logs.some((l) => l.msg === 'ACME certificate issued'), false, 'no new issuance after restart');
});
