/**
 * A reload builds new upstream clusters, but a server that stays in an
 * upstream whose settings did not change keeps its health: one the checks
 * found unhealthy is not put back into balancing by the reload (its next
 * check would take the whole check timeout to say so again), and requests
 * keep avoiding it.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { adminJson } from '../helpers/admin-client.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let web1: HttpsBackend;
let web2: HttpsBackend;
/** accepts TCP and never answers the TLS handshake: each check of it takes the whole timeout */
let silent: Server;
const held: Socket[] = [];
let proxy: ProxyProcess;
let config: Record<string, any>;
let socket: string;

before(async () => {
  pki = await makePki();
  [web1, web2] = await Promise.all([startHttpsBackend({ pkiDir: pki.dir }), startHttpsBackend({ pkiDir: pki.dir })]);
  silent = createServer((s) => { held.push(s); s.on('error', () => {}); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  socket = join(pki.dir, 'admin.sock');
  config = baseConfig(pki.dir, web1.port, { mode: 'http' }) as Record<string, any>;
  config.upstreams.backend.servers.push(`127.0.0.1:${(silent.address() as AddressInfo).port}`);
  config.upstreams.backend.health = { type: 'tls', interval: '1s', timeout: '4s', unhealthyAfter: 1, healthyAfter: 1 };
  config.upstreams.backend.connectTimeout = '4s';
  config.admin = { listen: socket };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => {
  await proxy?.stop();
  for (const s of held) s.destroy();
  silent?.close();
  await web1?.close();
  await web2?.close();
});

type Status = { generation: number; upstreams: Record<string, { servers: { address: string; healthy: boolean }[] }> };
const healthOf = async () => Object.fromEntries((await adminJson<Status>(socket, '/status')).body.upstreams.backend.servers.map((s) => [s.address, s.healthy]));

test('a server the checks found unhealthy stays out of balancing across a reload', async () => {
  const silentAddress = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
  await waitFor(async () => (await healthOf())[silentAddress] === false, 'the silent server is found unhealthy', 20_000);

  const next = structuredClone(config);
  next.upstreams.backend.servers.push(`127.0.0.1:${web2.port}`);
  await writeConfig(pki.dir, next);
  proxy.child.kill('SIGHUP');
  await proxy.waitForLog((l) => l.msg === 'reload' && l.generation === 2);
  const health = await healthOf();
  assert.equal(health[silentAddress], false, 'still unhealthy right after the reload');
  assert.equal(health[`127.0.0.1:${web2.port}`], true);
  // every request goes to a server that answers, none waits for the silent one
  for (let i = 0; i < 6; i++) assert.equal(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/r${i}`)).status, 200);
});
