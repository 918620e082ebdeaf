/**
 * Without an admin listener, `countersign reload FILE` finds the proxy by its
 * pid file (beside the config, FILE.pid, mode 0644): it validates the config as
 * `check` does and sends SIGHUP; a config with problems is refused before the
 * proxy is signalled. The pid file goes away when the proxy stops.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { makePki, writeConfig, startProxyProcess, baseConfig, runCli, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';

let pki: TestPki;
let web1: HttpsBackend;
let web2: HttpsBackend;
let proxy: ProxyProcess;
let file: string;
let config: Record<string, any>;
const pidFile = () => `${pki.dir}/proxy.pid`;

before(async () => {
  pki = await makePki();
  [web1, web2] = await Promise.all([startHttpsBackend({ pkiDir: pki.dir }), startHttpsBackend({ pkiDir: pki.dir })]);
  config = baseConfig(pki.dir, web1.port, { mode: 'http' }) as Record<string, any>;
  file = await writeConfig(pki.dir, config, 'proxy.yaml');
  proxy = await startProxyProcess(file);
});
after(async () => { await proxy?.stop(); await web1?.close(); await web2?.close(); });

const get = async (path: string) => curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}${path}`)).status;

test('countersign reload signals the pid in the pid file; a broken config is refused without signalling', async () => {
  assert.equal(readFileSync(pidFile(), 'utf8'), `${proxy.child.pid}\n`);
  assert.equal(statSync(pidFile()).mode & 0o777, 0o644);

  const broken = structuredClone(config);
  broken.routes[0].upstream = 'nowhere';
  await writeConfig(pki.dir, broken, 'proxy.yaml');
  const refused = await runCli(['reload', file]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /routes\[0\]\.upstream: no upstream named "nowhere"/);
  assert.match(refused.stderr, /reload not sent/);

  const next = structuredClone(config);
  next.upstreams.backend.servers = [`127.0.0.1:${web2.port}`];
  await writeConfig(pki.dir, next, 'proxy.yaml');
  const sent = await runCli(['reload', file]);
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, new RegExp(`sent SIGHUP to countersign \\(pid ${proxy.child.pid}`));
  const line = await proxy.waitForLog((l) => l.msg === 'reload' && l.generation === 2);
  assert.match(String(line.changes), /servers added/);
  assert.equal(proxy.logs.filter((l) => l.msg === 'reload' || l.msg.startsWith('reload refused')).length, 1, 'the broken config never reached the proxy');
  assert.equal(await get('/after'), 200);
  assert.equal(web2.requests.at(-1)?.url, '/after');

  assert.equal(await proxy.stop(), 0);
  assert.equal(existsSync(pidFile()), false, 'the pid file is removed at stop');
  const gone = await runCli(['reload', file]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no pid in .*proxy\.pid/);
});
