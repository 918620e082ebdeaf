/**
 * `workers: 2`: the primary validates the reloaded config once and every
 * worker applies the same text. Under steady load (keep-alive http requests
 * landing on both workers) a server is added, the old one removed and a client
 * denied, with zero failed requests; /status shows every worker on the new
 * generation; a broken config is refused by the primary and no worker moves.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, runCli, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { identityOfFile, readUntilClose, tlsClient } from '../helpers/e2e.js';
import { adminJson, untilNothingInUse } from '../helpers/admin-client.js';
import { childPids } from '../helpers/process-ports.js';
import { steadyLoad } from '../helpers/steady-load.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { getOk } from '../helpers/e2e.js';

let pki: TestPki;
let web1: HttpsBackend;
let web2: HttpsBackend;
let proxy: ProxyProcess;
let socket: string;
let file: string;
let config: Record<string, any>;

before(async () => {
  pki = await makePki();
  [web1, web2] = await Promise.all([startHttpsBackend({ pkiDir: pki.dir }), startHttpsBackend({ pkiDir: pki.dir })]);
  socket = join(pki.dir, 'admin.sock');
  config = baseConfig(pki.dir, web1.port, { mode: 'http' }) as Record<string, any>;
  config.workers = 2;
  config.admin = { listen: socket };
  file = await writeConfig(pki.dir, config);
  proxy = await startProxyProcess(file);
});
after(async () => {
  for (const pid of proxy?.child.pid ? await childPids(proxy.child.pid) : []) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  if (proxy?.child.exitCode === null) proxy.child.kill('SIGKILL');
  await web1?.close();
  await web2?.close();
});

const read = (f: string) => readFileSync(`${pki.dir}/${f}`);
const get = (agent: Agent, path: string) => getOk(agent, proxy.port, read('edge-ca.crt'), path);
type Status = { workers: { worker: number; pid: number; status?: { generation: number } }[] };
const generations = async () => (await adminJson<Status>(socket, '/status')).body.workers.map((w) => w.status?.generation);

async function reload(next: Record<string, any>) {
  await writeConfig(pki.dir, next);
  return runCli(['reload', file]);
}

test('every worker applies the reloaded config under load, with zero failed requests; a broken one moves none', async () => {
  // several keep-alive connections, so both workers take some (round-robin)
  const agent = new Agent({ keepAlive: true, maxSockets: 4, cert: read('alice.crt'), key: read('alice.key') });
  const load = steadyLoad((i) => get(agent, `/load/${i}`), 4);
  const progress = (n: number) => withTimeout(load.progress(n), `${n} more requests`, 30_000);
  try {
    await progress(20);
    assert.deepEqual(await generations(), [1, 1]);

    const both = structuredClone(config);
    both.upstreams.backend.servers.push(`127.0.0.1:${web2.port}`);
    const added = await reload(both);
    assert.equal(added.code, 0, added.stdout + added.stderr);
    assert.match(added.stdout, /^config: upstreams changed: backend; servers added/m);
    assert.match(added.stdout, /^worker 1: reload ok/m);
    assert.match(added.stdout, /^worker 2: reload ok/m);
    assert.deepEqual(await generations(), [2, 2]);
    await waitFor(() => web2.requests.length > 5, 'the added server takes traffic', 30_000);

    const only2 = structuredClone(config);
    only2.upstreams.backend.servers = [`127.0.0.1:${web2.port}`];
    assert.equal((await reload(only2)).code, 0);
    assert.deepEqual(await generations(), [3, 3]);
    // every loop finished 2 more: nothing started before the reload is still in flight
    await withTimeout(load.progressEach(2), 'what was in flight is done', 30_000);
    const seen = web1.requests.length;
    await progress(40);
    assert.equal(web1.requests.length, seen, 'no worker sends to the removed server');

    // bob, connected to whichever worker, is closed when he is denied
    const bob = await tlsClient(proxy.port, pki.dir, 'bob', { ALPNProtocols: ['http/1.1'] });
    const bobClosed = readUntilClose(bob);
    const denied = structuredClone(only2);
    denied.edge.deny = [identityOfFile(pki.dir, 'bob')];
    assert.equal((await reload(denied)).code, 0);
    await withTimeout(bobClosed, "bob's open connection is closed", 10_000);
    assert.deepEqual(await generations(), [4, 4]);

    // refused by the primary: no worker is asked, none moves
    const broken = structuredClone(denied);
    broken.upstreams.backend.ca = `${pki.dir}/no-such.crt`;
    const refused = await reload(broken);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /upstreams\.backend\.ca/);
    assert.deepEqual(await generations(), [4, 4]);
    await progress(20);
  } finally {
    const r = await load.stop();
    agent.destroy();
    assert.deepEqual({ failed: r.failed, errors: r.errors }, { failed: 0, errors: [] });
    console.log(`# workers: 2, across 3 reloads: ${r.ok} requests, none failed`);
  }
  const workersServed = new Set(proxy.logs.filter((l) => l.msg === 'request' && l.status === 200).map((l) => l.worker));
  assert.deepEqual([...workersServed].sort(), [1, 2], 'both workers served the load');
  // the baseline, in every worker: with the clients gone, nothing stays open or active
  await untilNothingInUse(socket);
});
