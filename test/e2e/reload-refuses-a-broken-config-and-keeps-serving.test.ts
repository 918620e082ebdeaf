/**
 * A reload of a config that `check` would refuse changes nothing: the problems
 * are logged with their key paths (SIGHUP) or printed by `countersign reload`
 * (exit 1, through the admin listener), and the running config keeps serving
 * open and new connections. A change to a key that needs a restart (`listen`)
 * is refused the same way, naming the key. A good config afterwards applies.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, runCli, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { tlsClient } from '../helpers/e2e.js';
import { adminJson } from '../helpers/admin-client.js';
import { askOnSocket as ask } from '../helpers/e2e.js';

let pki: TestPki;
let web1: HttpsBackend;
let web2: HttpsBackend;
let proxy: ProxyProcess;
let file: string;
let good: Record<string, any>;
const socket = () => `${pki.dir}/admin.sock`;

before(async () => {
  pki = await makePki();
  [web1, web2] = await Promise.all([startHttpsBackend({ pkiDir: pki.dir }), startHttpsBackend({ pkiDir: pki.dir })]);
  good = baseConfig(pki.dir, web1.port, { mode: 'http' }) as Record<string, any>;
  good.admin = { listen: socket() };
  file = await writeConfig(pki.dir, good);
  proxy = await startProxyProcess(file);
});
after(async () => { await proxy?.stop(); await web1?.close(); await web2?.close(); });


const generation = async () => (await adminJson<{ generation: number }>(socket(), '/status')).body.generation;
const served = async () => { const s = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] }); const line = await ask(s, '/new'); s.destroy(); return line; };

test('a broken config is refused with its key paths, by SIGHUP and by countersign reload, and the old one keeps serving', async () => {
  const open = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] });
  assert.equal(await ask(open, '/before'), 'HTTP/1.1 200 OK');

  // a typo and a second server: nothing of it may apply
  const typo = structuredClone(good);
  typo.upstreams.backend.servers.push(`127.0.0.1:${web2.port}`);
  typo.edge.clientAuht = typo.edge.clientAuth;
  await writeConfig(pki.dir, typo);
  const mark = proxy.logs.length;
  proxy.child.kill('SIGHUP');
  const refused = await proxy.waitForLog((l) => l.msg.startsWith('reload refused') && proxy.logs.indexOf(l) >= mark);
  const problems = refused.problems as string[];
  assert.ok(problems.some((p) => /^edge: unknown key "clientAuht"; did you mean "clientAuth"\?/.test(p)), JSON.stringify(problems));
  assert.equal(await generation(), 1);
  assert.equal(await ask(open, '/after-sighup'), 'HTTP/1.1 200 OK', 'the open connection is still served');
  assert.equal(await served(), 'HTTP/1.1 200 OK', 'new connections are still served');

  // a file that cannot be read, and a second server: countersign reload asks the
  // proxy (admin.listen), which answers every problem: exit 1
  const missing = structuredClone(good);
  missing.upstreams.backend.servers.push(`127.0.0.1:${web2.port}`);
  missing.upstreams.backend.ca = `${pki.dir}/no-such-ca.crt`;
  await writeConfig(pki.dir, missing);
  const cli = await runCli(['reload', file]);
  assert.equal(cli.code, 1, cli.stdout + cli.stderr);
  assert.match(cli.stderr, /upstreams\.backend\.ca.*no-such-ca\.crt/);
  assert.match(cli.stderr, /the running config keeps serving/);
  assert.equal(await generation(), 1);

  // a change that needs a restart is refused, naming the key
  const moved = structuredClone(good);
  moved.listen = '127.0.0.1:1';
  moved.upstreams.backend.servers = [`127.0.0.1:${web2.port}`];
  await writeConfig(pki.dir, moved);
  const restart = await runCli(['reload', file]);
  assert.equal(restart.code, 1);
  assert.match(restart.stderr, /listen: changed, but it cannot change without a restart/);
  assert.equal(await generation(), 1);
  const before = web2.requests.length;
  assert.equal(await ask(open, '/after-restart-key'), 'HTTP/1.1 200 OK');
  assert.equal(web2.requests.length, before, 'the refused config\'s server got nothing');
  assert.equal(web1.requests.at(-1)?.url, '/after-restart-key');

  // the good one applies: the next request goes to the new server
  const next = structuredClone(good);
  next.upstreams.backend.servers = [`127.0.0.1:${web2.port}`];
  await writeConfig(pki.dir, next);
  const ok = await runCli(['reload', file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^reload ok; config: upstreams changed: backend; servers added: backend/127\\.0\\.0\\.1:${web2.port}; servers removed: backend/127\\.0\\.0\\.1:${web1.port}`));
  assert.equal(await generation(), 2);
  assert.equal(await ask(open, '/after-good'), 'HTTP/1.1 200 OK');
  assert.equal(web2.requests.at(-1)?.url, '/after-good', 'the open connection\'s next request goes by the new config');
  open.destroy();
});
