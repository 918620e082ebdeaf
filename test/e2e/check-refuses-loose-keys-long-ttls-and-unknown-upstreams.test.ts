/**
 * `countersign check` and `countersign start` refuse, naming what to fix:
 * a private key file that group or others may read or write (with the chmod
 * to run), a delegation ttl outside [1m, 24h], and a route to an upstream name
 * that is a JavaScript object property (`constructor`, `toString`, `__proto__`)
 * but not a configured upstream.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePki, writeConfig, runCli, startProxyProcess, type TestPki } from '../helpers/proxy-process.js';

let pki: TestPki;

const config = (o: { delegationKey?: string; ttl?: string; upstream?: string } = {}) => `
listen: 127.0.0.1:0
edge:
  certificates: [{ cert: edge.crt, key: edge.key }]
  clientAuth: { mode: require, ca: client-ca.crt }
delegation: { ca: { cert: delegation-ca.crt, key: ${o.delegationKey ?? 'delegation-ca.key'} }${o.ttl ? `, ttl: ${o.ttl}` : ''} }
upstreams:
  kes: { servers: ["127.0.0.1:7373"], ca: backend-ca.crt, servername: backend.internal }
routes:
  - { upstream: ${o.upstream ?? 'kes'} }
`;

before(async () => { pki = await makePki(); });

for (const mode of [0o644, 0o666, 0o640, 0o604]) {
  test(`a delegation CA key with mode ${mode.toString(8)} is refused by check and start, naming the file and the chmod`, async () => {
    const key = join(pki.dir, `loose-${mode.toString(8)}.key`);
    await copyFile(join(pki.dir, 'delegation-ca.key'), key);
    await chmod(key, mode);
    const file = await writeConfig(pki.dir, config({ delegationKey: key }), `loose-${mode.toString(8)}.yaml`);
    const r = await runCli(['check', '--config', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const line = r.stderr.split('\n').find((l) => l.includes('delegation.ca.key'));
    assert.ok(line, r.stderr);
    assert.ok(line.includes(key), line);
    assert.ok(line.includes(`chmod 600 ${key}`), line);
    assert.ok(line.includes(`0${mode.toString(8)}`), line);
    await assert.rejects(startProxyProcess(file), (err: Error) => err.message.includes(`chmod 600 ${key}`));
  });
}

test('an edge key readable by group is refused too; 0600 and 0400 are accepted', async () => {
  const key = join(pki.dir, 'edge-loose.key');
  await copyFile(join(pki.dir, 'edge.key'), key);
  await chmod(key, 0o640);
  const file = await writeConfig(pki.dir, config().replace('key: edge.key', `key: ${key}`), 'edge-loose.yaml');
  const r = await runCli(['check', '--config', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /edge\.certificates\[0\]\.key: private key .* is readable by group/);
  for (const ok of [0o600, 0o400]) {
    await chmod(key, ok);
    const fine = await runCli(['check', '--config', file]);
    assert.equal(fine.code, 0, fine.stderr);
  }
});

for (const ttl of ['365d', '25h', '59s', '500ms']) {
  test(`delegation.ttl ${ttl} is refused, saying both bounds`, async () => {
    const r = await runCli(['check', '--config', await writeConfig(pki.dir, config({ ttl }), `ttl-${ttl}.yaml`)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /delegation\.ttl: must be at least 1m and at most 24h/);
  });
}

test('delegation.ttl 1m and 24h are accepted', async () => {
  for (const ttl of ['1m', '24h']) {
    const r = await runCli(['check', '--config', await writeConfig(pki.dir, config({ ttl }), `ttl-ok-${ttl}.yaml`)]);
    assert.equal(r.code, 0, r.stderr);
  }
});

for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
  test(`a route to upstream "${name}" (not configured) is refused`, async () => {
    const r = await runCli(['check', '--config', await writeConfig(pki.dir, config({ upstream: name }), `up-${name}.yaml`)]);
    assert.equal(r.code, 1, r.stdout);
    assert.ok(r.stderr.includes(`routes[0].upstream: no upstream named "${name}"`), r.stderr);
  });
}
