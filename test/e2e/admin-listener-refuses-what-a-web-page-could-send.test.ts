/**
 * The admin listener refuses what a web page in a browser on the same host
 * could send it: a cross-site form or `text/plain` POST to /reload (no
 * X-Countersign-Admin header) gets 403 with a reason, one warn line, and
 * reloads nothing; a DNS-rebound page (`Host: evil.example:<port>`) gets 403
 * for GET /status. What operators use keeps working: `countersign reload`,
 * the docs' curl POST with the header, GET with the address, localhost or an
 * IP literal as Host; and over a unix socket any Host, the header still needed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, runCli, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { adminJson, adminRequest } from '../helpers/admin-client.js';
import { runCommand } from '../helpers/run-command.js';
import { freePort } from '../helpers/net.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let viaSocket: ProxyProcess;
let admin: string;
let port: number;
let socket: string;
let file: string;
let config: Record<string, any>;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  config = baseConfig(pki.dir, backend.port, { mode: 'http' }) as Record<string, any>;
  // a fixed port: `countersign reload` finds the listener by the config's address
  config.admin = { listen: `127.0.0.1:${await freePort()}` };
  file = await writeConfig(pki.dir, config);
  proxy = await startProxyProcess(file);
  admin = String((await proxy.waitForLog((l) => l.msg === 'admin listening')).admin);
  port = Number(admin.split(':').pop());
  socket = join(pki.dir, 'admin.sock');
  const socketConfig = { ...structuredClone(config), admin: { listen: socket } };
  viaSocket = await startProxyProcess(await writeConfig(pki.dir, socketConfig, 'socket.yaml'));
});
after(async () => {
  await proxy?.stop();
  await viaSocket?.stop();
  await backend?.close();
});

const generation = async (address = admin) => (await adminJson<{ generation: number }>(address, '/status')).body.generation;

/** A change that a reload would apply (and count as a new generation). */
let changes = 0;
async function changeTheConfig(): Promise<void> {
  config.timeouts = { shutdownGrace: `${10 + ++changes}s` };
  await writeConfig(pki.dir, config);
}

/** curl, as a browser's cross-site request looks on the wire: an Origin, a simple content type, no custom header. */
const crossSite = (contentType: string, body: string) => runCommand('curl', [
  '-sS', '--max-time', '10', '-o', '-', '-w', '\n%{http_code}', '-X', 'POST',
  '-H', 'Origin: http://evil.example', '-H', `Content-Type: ${contentType}`, '--data-binary', body,
  `http://127.0.0.1:${port}/reload`,
]);

for (const [kind, contentType, body] of [
  ['form', 'application/x-www-form-urlencoded', 'a=1'],
  ['text/plain', 'text/plain', '{"reload":true}'],
] as const) {
  test(`a cross-site ${kind} POST /reload is refused with 403 and a log line, and nothing reloads`, async () => {
    await changeTheConfig();
    const before = await generation();
    const mark = proxy.logs.length;
    const r = await crossSite(contentType, body);
    const status = Number(r.stdout.slice(r.stdout.lastIndexOf('\n') + 1));
    assert.equal(status, 403, r.stdout + r.stderr);
    assert.match(r.stdout, /X-Countersign-Admin/);
    const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'admin: request refused');
    assert.equal(line.method, 'POST');
    assert.equal(line.path, '/reload');
    assert.equal(line.origin, 'http://evil.example');
    assert.equal(await generation(), before, 'no reload happened');
  });
}

test('a rebound name in Host is refused for GET /status and /metrics; the address, localhost and IP literals are not', async () => {
  const mark = proxy.logs.length;
  for (const path of ['/status', '/metrics']) {
    const r = await adminRequest(admin, path, 'GET', { Host: `evil.example:${port}` });
    assert.equal(r.status, 403, `${path}: ${r.body}`);
    assert.match(JSON.parse(r.body).error, /Host "evil\.example:\d+" is not this admin listener's address/);
  }
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'admin: request refused');
  assert.equal(line.host, `evil.example:${port}`);
  // the right name on another port is someone else's page too
  assert.equal((await adminRequest(admin, '/status', 'GET', { Host: `localhost:${port + 1}` })).status, 403);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
    assert.equal((await adminRequest(admin, '/status', 'GET', { Host: host })).status, 200, host);
  }
});

test('countersign reload and the documented curl POST (with X-Countersign-Admin) still reload', async () => {
  await changeTheConfig();
  const before = await generation();
  const cli = await runCli(['reload', '--config', file]);
  assert.equal(cli.code, 0, cli.stdout + cli.stderr);
  assert.match(cli.stdout, /^reload ok/m);
  assert.equal(await generation(), before + 1);

  await changeTheConfig();
  const r = await runCommand('curl', ['-sS', '--max-time', '30', '-X', 'POST', '-H', 'X-Countersign-Admin: 1', '-w', '\n%{http_code}', `http://127.0.0.1:${port}/reload`]);
  assert.match(r.stdout, /\n200$/, r.stdout + r.stderr);
  assert.equal(await generation(), before + 2);
});

test('over a unix socket any Host is fine, and a POST still needs the header', async () => {
  assert.equal((await adminRequest(socket, '/status', 'GET', { Host: 'evil.example' })).status, 200);
  assert.equal((await adminRequest(socket, '/reload', 'POST', { 'Content-Type': 'text/plain' })).status, 403);
  const ok = await adminJson<{ ok: boolean }>(socket, '/reload', 'POST');
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.ok, true);
});
