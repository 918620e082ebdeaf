/**
 * examples/redis against Debian's Redis 7 started from the example's own
 * redis.conf (`tls-auth-clients yes`, `tls-ca-cert-file` = the delegation
 * CA): a client verified at the edge reads and writes through countersign
 * (redis-cli offers no ALPN; none is negotiated); the same client's own
 * certificate presented to Redis directly is refused, as Redis trusts only
 * the delegation CA.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, REPO_ROOT, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { exampleConfig } from '../helpers/examples.js';
import { writeIssued } from '../helpers/e2e.js';
import { redisCli, startRedis, type Redis } from '../helpers/redis.js';

let pki: TestPki;
let redis: Redis;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  redis = await startRedis({ conf: readFileSync(join(REPO_ROOT, 'examples/redis/redis.conf'), 'utf8'), pkiDir: pki.dir });
  const config = exampleConfig('redis', pki.dir, { redis: [`127.0.0.1:${redis.port}`] });
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await redis?.stop(); });

test('alice writes and reads through countersign', async () => {
  const set = await redisCli(proxy.port, pki.dir, 'alice', ['SET', 'greeting', 'hello from alice']);
  assert.equal(set.stdout.trim(), 'OK', set.stderr + redis.output());
  const get = await redisCli(proxy.port, pki.dir, 'bob', ['GET', 'greeting']);
  assert.equal(get.stdout.trim(), 'hello from alice', get.stderr);
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.upstream === 'redis' && l.outcome === 'closed');
  assert.equal(line.subject, 'CN=alice, O=countersign dev');
});

test('alice\'s own certificate, presented to Redis directly, is refused; one from the delegation CA is not', async () => {
  await writeIssued(pki.dir, 'direct', { subject: 'CN=direct', issuer: pki.pki.delegationCa, usage: 'client' });
  const ok = await redisCli(redis.port, pki.dir, 'direct', ['PING'], `${pki.dir}/backend-ca.crt`);
  assert.equal(ok.stdout.trim(), 'PONG', ok.stderr);
  const r = await redisCli(redis.port, pki.dir, 'alice', ['PING'], `${pki.dir}/backend-ca.crt`);
  assert.doesNotMatch(r.stdout, /PONG/);
  assert.match(r.stderr + r.stdout, /error|closed|reset|failed/i);
});
