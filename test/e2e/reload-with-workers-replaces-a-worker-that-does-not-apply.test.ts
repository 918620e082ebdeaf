/**
 * `workers: 2`: a worker that does not apply a reloaded config (here: stopped
 * with SIGSTOP, so it cannot answer) is reported by `countersign reload`
 * (exit 1) and replaced; its replacement starts with the reloaded config — not
 * the one the workers started with, nor the file as edited since — so both
 * workers serve the same config.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, runCli, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { adminJson } from '../helpers/admin-client.js';
import { childPids } from '../helpers/process-ports.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let web1: HttpsBackend;
let web2: HttpsBackend;
let proxy: ProxyProcess;
let socket: string;
let file: string;
let stopped: number | undefined;

before(async () => {
  pki = await makePki();
  [web1, web2] = await Promise.all([startHttpsBackend({ pkiDir: pki.dir }), startHttpsBackend({ pkiDir: pki.dir })]);
  socket = join(pki.dir, 'admin.sock');
  const config = baseConfig(pki.dir, web1.port, { mode: 'http' }) as Record<string, any>;
  config.workers = 2;
  config.admin = { listen: socket };
  file = await writeConfig(pki.dir, config);
  proxy = await startProxyProcess(file);
});
after(async () => {
  if (stopped) { try { process.kill(stopped, 'SIGCONT'); } catch { /* gone */ } }
  for (const pid of proxy?.child.pid ? await childPids(proxy.child.pid) : []) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  if (proxy?.child.exitCode === null) proxy.child.kill('SIGKILL');
  await web1?.close();
  await web2?.close();
});

type Status = { workers: { worker: number; pid?: number; error?: string; status?: { config?: { digest: string }; upstreams: Record<string, { servers: { address: string }[] }> } }[] };
const status = async () => (await adminJson<Status>(socket, '/status')).body.workers;

test('a worker that does not apply the reload is replaced by one serving the reloaded config', async () => {
  const before = await status();
  const stuck = before.find((w) => w.worker === 1)!.pid!;
  process.kill(stuck, 'SIGSTOP');
  stopped = stuck;

  const next = baseConfig(pki.dir, web2.port, { mode: 'http' }) as Record<string, any>;
  next.workers = 2;
  next.admin = { listen: socket };
  await writeConfig(pki.dir, next);
  const r = await runCli(['reload', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^worker 1: no answer within/m);
  assert.match(r.stdout, /^worker 2: reload ok/m);
  await proxy.waitForLog((l) => l.msg === 'worker did not apply the reloaded config; replacing it' && l.worker === 1);

  // the file changes again (not reloaded): the replacement must not read it
  const edited = structuredClone(next);
  edited.upstreams.backend.servers = [`127.0.0.1:${web1.port}`];
  await writeConfig(pki.dir, edited);

  // let it see its SIGTERM; the primary starts a replacement
  process.kill(stuck, 'SIGCONT');
  stopped = undefined;
  const after = await waitFor(async () => {
    const s = await status();
    const w1 = s.find((w) => w.worker === 1);
    return w1?.pid && w1.pid !== stuck && w1.status ? s : undefined;
  }, 'a new worker 1', 30_000);
  const digests = new Set(after.map((w) => w.status?.config?.digest));
  assert.equal(digests.size, 1, 'both workers serve the same config');
  for (const w of after) assert.deepEqual(w.status!.upstreams.backend.servers.map((s) => s.address), [`127.0.0.1:${web2.port}`], `worker ${w.worker} serves the reloaded upstream`);
});
