/**
 * `workers: 2` with `listeners`: every worker serves every listener (the
 * connections to each port land on both workers), a reload that adds a
 * listener opens it in every worker, and one that adds a listener on an
 * address in use is refused by the primary before any worker tries — no
 * worker is replaced, every port keeps serving.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { makePki, writeConfig, startProxyProcess, baseConfig, runCli, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startTlsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { tlsClient, upstreamTo } from '../helpers/e2e.js';
import { echo } from '../helpers/edge-tls.js';
import { adminJson } from '../helpers/admin-client.js';
import { childPids } from '../helpers/process-ports.js';
import { freePort, listen, closeServer } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let a: TlsBackend;
let b: TlsBackend;
let proxy: ProxyProcess;
let socket: string;
let file: string;
let busy: Server;
let bPort: number;
let cPort: number;

function config(listeners: { name: string; port: number }[]): Record<string, any> {
  const cfg = baseConfig(pki.dir, a.port) as Record<string, any>;
  cfg.workers = 2;
  cfg.admin = { listen: socket };
  cfg.upstreams = { a: upstreamTo(pki.dir, a.port), b: upstreamTo(pki.dir, b.port) };
  cfg.listeners = listeners.map((l) => ({ name: l.name, listen: `127.0.0.1:${l.port}` }));
  // b and c go to upstream b; main to a
  cfg.routes = [
    { upstream: 'a', mode: 'connection', match: { listener: 'main' } },
    ...listeners.map((l) => ({ upstream: 'b', mode: 'connection', match: { listener: l.name } })),
  ];
  return cfg;
}

before(async () => {
  pki = await makePki();
  [a, b] = await Promise.all([startTlsBackend({ pkiDir: pki.dir }), startTlsBackend({ pkiDir: pki.dir })]);
  socket = join(pki.dir, 'admin.sock');
  [bPort, cPort] = [await freePort(), await freePort()];
  file = await writeConfig(pki.dir, config([{ name: 'b', port: bPort }]));
  proxy = await startProxyProcess(file);
  busy = createServer();
  await listen(busy);
});
after(async () => {
  for (const pid of proxy?.child.pid ? await childPids(proxy.child.pid) : []) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  if (proxy?.child.exitCode === null) proxy.child.kill('SIGKILL');
  await closeServer(busy);
  await Promise.all([a?.close(), b?.close()]);
});

/** Connects to `port` until both workers have served a connection on `listener`; returns how many it took. */
async function bothWorkersServe(port: number, listener: string): Promise<void> {
  const workers = () => new Set(proxy.logs.filter((l) => l.msg === 'connection' && l.listener === listener).map((l) => l.worker));
  await waitFor(async () => {
    const s = await tlsClient(port, pki.dir, 'alice');
    assert.equal(await echo(s, `via ${listener}`), `via ${listener}`);
    s.destroy();
    await new Promise((r) => s.once('close', r));
    return workers().size === 2;
  }, `both workers serve listener ${listener}`, 20_000);
}

type Status = { workers: { worker: number; pid: number; status?: { generation: number; listeners: { name: string; address: string }[] } }[] };
const status = async () => (await adminJson<Status>(socket, '/status')).body.workers;

test('both workers serve the main listener and listener b', async () => {
  await bothWorkersServe(proxy.port, 'main');
  await bothWorkersServe(bPort, 'b');
  for (const w of await status()) assert.deepEqual(w.status?.listeners.map((l) => `${l.name} ${l.address}`), [`main 127.0.0.1:${proxy.port}`, `b 127.0.0.1:${bPort}`]);
});

test('a reload adds listener c in every worker', async () => {
  await writeConfig(pki.dir, config([{ name: 'b', port: bPort }, { name: 'c', port: cPort }]));
  const r = await runCli(['reload', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /listeners added: c/);
  await bothWorkersServe(cPort, 'c');
  for (const w of await status()) assert.deepEqual(w.status?.listeners.map((l) => l.name), ['main', 'b', 'c']);
});

test('a reload adding a listener on an address in use is refused by the primary; no worker is replaced', async () => {
  const before = (await status()).map((w) => w.pid);
  const taken = (busy.address() as { port: number }).port;
  await writeConfig(pki.dir, config([{ name: 'b', port: bPort }, { name: 'c', port: cPort }, { name: 'd', port: taken }]));
  const r = await runCli(['reload', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, new RegExp(`listeners\\.d: cannot listen on 127\\.0\\.0\\.1:${taken} \\(address already in use\\)`));
  const after = await status();
  assert.deepEqual(after.map((w) => w.pid), before, 'the same workers');
  assert.deepEqual(after.map((w) => w.status?.generation), [2, 2]);
  const s = await tlsClient(cPort, pki.dir, 'alice');
  assert.equal(await echo(s, 'still'), 'still');
  s.destroy();
});
