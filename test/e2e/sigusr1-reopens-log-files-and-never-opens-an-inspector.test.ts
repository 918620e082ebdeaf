/**
 * SIGUSR1 is nginx's "reopen your log files" (logrotate renames the file, then
 * signals): countersign reopens `log.file` in the primary and in every worker,
 * and never opens a Node inspector, which would let anyone on the host run code
 * in a process that holds the delegation CA key. Without files the signal is
 * logged as ignored.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki, type LogLine } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { waitFor } from '../helpers/edge-tls.js';
import { childPids, listeningPorts } from '../helpers/process-ports.js';

let pki: TestPki;
let backend: HttpsBackend;
const started: ProxyProcess[] = [];

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
});
after(async () => {
  for (const p of started) {
    for (const pid of p.child.pid ? await childPids(p.child.pid) : []) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }
  await backend?.close();
});

const lines = (file: string): LogLine[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);

test('the check itself: SIGUSR1 to a plain node process opens an inspector that listeningPorts sees', async () => {
  // --inspect-port=0: the control must not take 9229 from anyone else on the machine
  const child = spawn(process.execPath, ['--inspect-port=0', '-e', 'console.log("up"); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  try {
    await waitFor(() => stdout.includes('up'), 'the child runs');
    assert.deepEqual(await listeningPorts(child.pid!), []);
    child.kill('SIGUSR1');
    await waitFor(() => stderr.includes('Debugger listening'), 'the inspector message');
    assert.ok((await waitFor(async () => { const p = await listeningPorts(child.pid!); return p.length ? p : undefined; }, 'an inspector port')).length === 1);
  } finally {
    child.kill('SIGKILL');
  }
});

test('one process without log files: SIGUSR1 is logged as ignored and no inspector port opens', async () => {
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' });
  const proxy = await startProxyProcess(await writeConfig(pki.dir, config, 'single.yaml'));
  started.push(proxy);
  proxy.child.kill('SIGUSR1');
  await proxy.waitForLog((l) => l.msg === 'SIGUSR1: no log or audit file to reopen; ignored');
  assert.deepEqual(await listeningPorts(proxy.child.pid!), [proxy.port]);
  assert.doesNotMatch(proxy.stderr(), /Debugger listening/);
  // and it still serves
  assert.equal(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/who`)).status, 200);
  assert.equal(await proxy.stop(), 0);
});

test('workers: after a rename, SIGUSR1 reopens log.file in the primary and every worker; no inspector anywhere', async () => {
  const logFile = join(pki.dir, 'logs', 'countersign.log');
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' });
  config.workers = 2;
  config.log = { level: 'info', file: logFile };
  const proxy = await startProxyProcess(await writeConfig(pki.dir, config, 'workers.yaml'), [], { logFile });
  started.push(proxy);
  assert.equal(proxy.child.stdout!.readableLength, 0);
  const workers = await waitFor(async () => { const c = await childPids(proxy.child.pid!); return c.length === 2 ? c : undefined; }, 'two workers');

  await rename(logFile, `${logFile}.1`);
  proxy.child.kill('SIGUSR1');
  const reopened = (l: LogLine) => l.outcome === 'reopened';
  await waitFor(() => { try { return lines(logFile).filter(reopened).length >= 3; } catch { return false; } }, 'reopen lines from the primary and two workers in the new file');
  // worker lines carry their slot and pid; the primary's carry neither
  const who = new Set(lines(logFile).filter(reopened).map((l) => (l.worker === undefined ? 'primary' : `${l.worker}:${l.pid}`)));
  assert.equal(who.size, 3, `primary and both workers wrote to the new file: ${[...who].join(', ')}`);
  assert.ok(who.has('primary'));
  assert.deepEqual([...who].filter((w) => w !== 'primary').map((w) => Number(w.split(':')[1])).sort(), [...workers].sort());

  const before = lines(`${logFile}.1`).length;
  for (let i = 0; i < 4; i++) assert.equal(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/who`)).status, 200);
  await waitFor(() => lines(logFile).filter((l) => l.msg === 'connection').length >= 4, 'connection lines in the new file');
  assert.equal(lines(`${logFile}.1`).length, before, 'nothing more goes to the renamed file');

  // SIGUSR1 straight to a worker (or the whole process group) reopens in that worker, too
  for (const w of workers) process.kill(w, 'SIGUSR1');
  await waitFor(() => lines(logFile).filter((l) => l.msg === 'SIGUSR1: reopened log' && workers.includes(Number(l.pid))).length >= 2, 'each worker reopened on its own signal');

  for (const pid of [proxy.child.pid!, ...workers]) {
    const ports = await listeningPorts(pid);
    assert.ok(ports.every((p) => p === proxy.port), `pid ${pid} listens only on the edge port: ${ports.join(', ')}`);
  }
  assert.doesNotMatch(proxy.stderr(), /Debugger listening/);
  assert.deepEqual((await childPids(proxy.child.pid!)).sort(), [...workers].sort(), 'no worker died of the signal');
  assert.equal(await proxy.stop(), 0);
  assert.ok(lines(logFile).some((l) => l.msg === 'countersign stopped' && l.worker === undefined), 'the last line reaches the file');
});
