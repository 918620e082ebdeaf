/**
 * The audit log of the real CLI: one hash-chained JSON record per connection
 * and per http request, with who, where, what was minted and how it ended; a
 * restart continues the chain; `countersign audit verify` passes an intact file
 * and names the first broken line of an edited or shortened one; with two
 * workers the primary writes one chain; a full disk (/dev/full) is logged and
 * counted, the proxy keeps serving and still stops cleanly.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { baseConfig, makePki, runCli, startProxyProcess, writeConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { sClient } from '../helpers/e2e.js';
import { freePort } from '../helpers/net.js';
import { scrape } from '../helpers/admin-client.js';
import { metricValue } from '../helpers/prometheus-text.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); });
before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  cleanups.push(() => backend.close());
});

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
type Rec = Record<string, unknown>;
const records = async (file: string): Promise<Rec[]> => (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));

async function start(name: string, extra: Record<string, unknown>, route: Record<string, unknown> = { mode: 'http' }): Promise<ProxyProcess> {
  const config = { ...baseConfig(pki.dir, backend.port, route), ...extra };
  const p = await startProxyProcess(await writeConfig(pki.dir, config, `${name}.yaml`));
  cleanups.push(() => p.stop());
  return p;
}
const get = (port: number, who: string, path: string) => curl(pki.dir, who, `https://localhost:${port}${path}`).then(curlStatus);

test('http mode: every request and connection is a chained record; a restart continues the chain; audit verify finds edits and removals', async () => {
  const file = join(pki.dir, 'audit', 'http.jsonl');
  const audit = { audit: { file } };
  const route = { mode: 'http', allow: { cn: ['alice'] } };
  let proxy = await start('audit-http', audit, route);
  assert.equal((await get(proxy.port, 'alice', '/v1/key/one')).status, 200);
  assert.equal((await get(proxy.port, 'bob', '/v1/key/two')).status, 403);
  assert.equal(await proxy.stop(), 0);

  const first = await records(file);
  const ok = first.find((r) => r.kind === 'request' && r.path === '/v1/key/one');
  assert.ok(ok, JSON.stringify(first));
  assert.equal(ok.identity, (await import('../helpers/e2e.js')).identityOfFile(pki.dir, 'alice'));
  assert.equal(ok.subject, 'CN=alice, O=countersign dev');
  assert.equal(ok.remoteAddress, '127.0.0.1');
  assert.equal(ok.route, 'backend');
  assert.equal(ok.upstream, 'backend');
  assert.match(String(ok.serial), /^[0-9A-F]{2,34}$/, 'the minted certificate\'s serial');
  assert.equal(ok.status, 200);
  assert.equal(ok.outcome, 'ok');
  assert.equal(ok.method, 'GET');
  assert.ok(typeof ok.durationMs === 'number' && (ok.bytesOut as number) > 0, JSON.stringify(ok));
  assert.match(String(ok.time), /^\d{4}-\d\d-\d\dT/);
  const refused = first.find((r) => r.kind === 'request' && r.path === '/v1/key/two')!;
  assert.deepEqual([refused.status, refused.outcome, refused.reason, refused.rule, refused.subject], [403, 'refused', 'not allowed', 'routes[0].allow', 'CN=bob, O=countersign dev']);
  const conns = first.filter((r) => r.kind === 'connection');
  assert.equal(conns.length, 2, 'one record per connection');
  assert.ok(conns.every((c) => c.outcome === 'closed' && typeof c.conn === 'number' && (c.bytesIn as number) > 0), JSON.stringify(conns));
  assert.equal(ok.conn, conns.find((c) => c.subject === ok.subject)!.conn, 'a request record names its connection');

  let v = await runCli(['audit', 'verify', file]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, new RegExp(`${first.length} records, chain intact \\(starts a chain\\)`));

  // a restart continues the chain from the last line
  const lastLine = (await readFile(file, 'utf8')).trimEnd().split('\n').pop()!;
  proxy = await start('audit-http', audit, route);
  assert.equal((await get(proxy.port, 'alice', '/v1/key/three')).status, 200);
  assert.equal(await proxy.stop(), 0);
  const all = await records(file);
  assert.equal(all[first.length].prev, sha(lastLine));
  v = await runCli(['audit', 'verify', file]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, new RegExp(`${all.length} records, chain intact`));

  // an edited line: the next line is the first that breaks
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  const edited = join(pki.dir, 'audit', 'edited.jsonl');
  await writeFile(edited, [...lines.slice(0, 1), lines[1].replace('"outcome":"refused"', '"outcome":"ok"').replace('"outcome":"closed"', '"outcome":"ok"'), ...lines.slice(2)].join('\n') + '\n');
  assert.notEqual(await readFile(edited, 'utf8'), await readFile(file, 'utf8'));
  v = await runCli(['audit', 'verify', edited]);
  assert.equal(v.code, 1);
  assert.match(v.stderr, new RegExp(`edited\\.jsonl:3: broken chain: "prev" is not the SHA-256 of line 2`));
  // a deleted line
  const deleted = join(pki.dir, 'audit', 'deleted.jsonl');
  await writeFile(deleted, [...lines.slice(0, 2), ...lines.slice(3)].join('\n') + '\n');
  v = await runCli(['audit', 'verify', deleted]);
  assert.equal(v.code, 1);
  assert.match(v.stderr, /deleted\.jsonl:3: broken chain/);
});

test('workers: 2: the primary writes one chain for both workers', async () => {
  const file = join(pki.dir, 'audit', 'workers.jsonl');
  const proxy = await start('audit-workers', { workers: 2, audit: { file } }, { mode: 'connection' });
  for (let i = 0; i < 6; i++) await sClient(proxy.port, pki.dir, 'alice', { input: `GET /w/${i} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n` });
  assert.equal(await proxy.stop(), 0);
  const recs = await records(file);
  assert.equal(recs.filter((r) => r.kind === 'connection').length, 6, JSON.stringify(recs));
  assert.ok(recs.every((r) => r.outcome === 'closed' && r.upstream === 'backend' && /^[0-9A-F]+$/.test(String(r.serial))), JSON.stringify(recs));
  assert.equal(new Set(recs.map((r) => r.pid)).size, 2, 'records from both workers');
  const v = await runCli(['audit', 'verify', file]);
  assert.equal(v.code, 0, v.stderr);
});

test('a full disk (/dev/full): records fail, are logged and counted; the proxy serves on and stops cleanly', async () => {
  const admin = `127.0.0.1:${await freePort()}`;
  const proxy = await start('audit-full', { audit: { file: '/dev/full' }, admin: { listen: admin } });
  for (let i = 0; i < 3; i++) assert.equal((await get(proxy.port, 'alice', `/full/${i}`)).status, 200);
  const line = await proxy.waitForLog((l) => l.msg === 'audit record not written');
  assert.equal(line.reason, 'ENOSPC');
  await waitFor(async () => metricValue(await scrape(admin), 'countersign_audit_write_failures_total') >= 1, 'the failure metric', 10_000);
  assert.equal((await get(proxy.port, 'alice', '/full/after')).status, 200, 'still serving');
  assert.equal(await proxy.stop(), 0, 'stops (no flush waiting on the full disk forever)');
});

test('an audit file that cannot be opened refuses start with ERR_AUDIT_OPEN\'s message', async () => {
  await writeFile(join(pki.dir, 'not-a-dir'), 'x');
  const config = { ...baseConfig(pki.dir, backend.port), audit: { file: join(pki.dir, 'not-a-dir', 'audit.jsonl') } };
  const r = await runCli(['start', '--config', await writeConfig(pki.dir, config, 'audit-bad.yaml')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /audit\.file: cannot open .*not-a-dir\/audit\.jsonl/);
});
