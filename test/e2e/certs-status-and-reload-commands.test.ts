/**
 * `countersign certs status` lists every certificate the proxy depends on —
 * edge, client CA, delegation CA, upstream CAs — always as a table, marks an
 * expired one, and with `--warn 14d` exits 1 when anything expires within 14
 * days (for cron or a monitoring check). With `admin.listen` configured it
 * shows what the running proxy serves, and `countersign reload` reloads it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, runCli, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { writeIssued } from '../helpers/e2e.js';

const day = 86_400_000;
let pki: TestPki;
let proxy: ProxyProcess | undefined;

before(async () => {
  pki = await makePki();
  await writeIssued(pki.dir, 'soon', { subject: 'CN=soon.example', dnsNames: ['soon.example'], issuer: pki.pki.edgeCa, usage: 'server', notAfter: new Date(Date.now() + 5 * day) });
  await writeIssued(pki.dir, 'gone', { subject: 'CN=gone.example', dnsNames: ['gone.example'], issuer: pki.pki.edgeCa, usage: 'server', notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) });
});
after(() => { if (proxy?.child.exitCode === null) proxy.child.kill('SIGKILL'); });

const rowsOf = (stdout: string) => stdout.split('\n').slice(2).filter(Boolean);

test('every kind of certificate gets a row; nothing expiring soon exits 0', async () => {
  const file = await writeConfig(pki.dir, baseConfig(pki.dir, 7373), 'plain.yaml');
  const r = await runCli(['certs', 'status', '--config', file, '--warn', '14d']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^certificates, from files:/);
  assert.match(r.stdout.split('\n')[1], /^KIND\s+NAMES \/ SUBJECT\s+ISSUER\s+NOT AFTER\s+EXPIRES IN\s+FILE$/);
  const rows = rowsOf(r.stdout);
  for (const [kind, name] of [['edge (default)', 'localhost'], ['client-ca', 'countersign dev client CA'], ['delegation-ca', 'countersign'], ['upstream-ca (backend)', '']]) {
    assert.ok(rows.some((l) => l.startsWith(kind) && l.includes(name)), `a ${kind} row: ${r.stdout}`);
  }
});

test('--warn 14d exits 1 and marks the certificate that expires in 5 days; --warn 1d exits 0', async () => {
  const config = baseConfig(pki.dir, 7373, {}, { certificates: [{ cert: `${pki.dir}/edge.crt`, key: `${pki.dir}/edge.key` }, { cert: `${pki.dir}/soon.crt`, key: `${pki.dir}/soon.key` }] });
  const file = await writeConfig(pki.dir, config, 'soon.yaml');
  const warned = await runCli(['certs', 'status', '--config', file, '--warn', '14d']);
  assert.equal(warned.code, 1);
  const row = rowsOf(warned.stdout).find((l) => l.includes('soon.example'))!;
  assert.match(row, /\b5d \(< 14d\)/);
  assert.match(warned.stderr, /1 certificate expired or expiring within 14d/);
  const calm = await runCli(['certs', 'status', '--config', file, '--warn', '1d']);
  assert.equal(calm.code, 0, calm.stderr);
  const json = await runCli(['certs', 'status', '--config', file, '--warn', '14d', '--json']);
  assert.equal(json.code, 1);
  const parsed = JSON.parse(json.stdout) as { rows: { names: string; withinWarn: boolean }[] };
  assert.deepEqual(parsed.rows.filter((x) => x.withinWarn).map((x) => x.names), ['soon.example']);
});

test('an expired certificate still gets its row, marked EXPIRED, and exit 1', async () => {
  const config = baseConfig(pki.dir, 7373, {}, { certificates: [{ cert: `${pki.dir}/gone.crt`, key: `${pki.dir}/gone.key` }] });
  const r = await runCli(['certs', 'status', '--config', await writeConfig(pki.dir, config, 'gone.yaml')]);
  assert.equal(r.code, 1);
  assert.match(rowsOf(r.stdout).find((l) => l.includes('gone.example'))!, /EXPIRED/);
});

test('a bad --warn value is a usage error (exit 2)', async () => {
  const r = await runCli(['certs', 'status', '--config', await writeConfig(pki.dir, baseConfig(pki.dir, 7373), 'plain.yaml'), '--warn', 'soon']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--warn: "soon" is not a duration/);
});

test('with admin.listen: certs status shows the running proxy, reload reloads it; stopped, certs status falls back to the files', async () => {
  const config = baseConfig(pki.dir, 7373);
  config.admin = { listen: `${pki.dir}/admin.sock` };
  const file = await writeConfig(pki.dir, config, 'admin.yaml');
  proxy = await startProxyProcess(file);
  const live = await runCli(['certs', 'status', '--config', file]);
  assert.equal(live.code, 0, live.stderr);
  assert.match(live.stdout, /^certificates, from the running proxy \(admin .*admin\.sock\):/);
  assert.ok(rowsOf(live.stdout).some((l) => l.startsWith('edge (file, default)') && l.includes('localhost')));
  assert.ok(rowsOf(live.stdout).some((l) => l.startsWith('delegation-ca')));

  const reloaded = await runCli(['reload', '--config', file]);
  assert.equal(reloaded.code, 0, reloaded.stderr);
  assert.match(reloaded.stdout, /^reload ok/);
  await proxy.waitForLog((l) => l.msg === 'reload' && l.outcome === 'ok');

  assert.equal(await proxy.stop(), 0);
  const offline = await runCli(['certs', 'status', '--config', file]);
  assert.equal(offline.code, 0);
  assert.match(offline.stderr, /reading the files instead/);
  assert.match(offline.stdout, /^certificates, from files:/);
});

test('reload without admin.listen and no running proxy says to send SIGHUP', async () => {
  const r = await runCli(['reload', '--config', await writeConfig(pki.dir, baseConfig(pki.dir, 7373), 'plain.yaml')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no admin\.listen configured and no pid in .*plain\.pid .*send SIGHUP/);
});
