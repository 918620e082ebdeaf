/**
 * `countersign check` (and so `start`) on listeners: two listeners on one
 * address are refused, naming both keys; a `starttls: mysql` listener served
 * by two routes is refused (the server speaks first, so its one upstream is
 * chosen before the client says anything); the same config with one route
 * passes.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, runCli, baseConfig, type TestPki } from '../helpers/proxy-process.js';
import { upstreamTo } from '../helpers/e2e.js';

let pki: TestPki;
before(async () => { pki = await makePki(); });

function config(listeners: unknown[], routes: unknown[]): Record<string, any> {
  const c = baseConfig(pki.dir, 7373) as Record<string, any>;
  c.listen = '0.0.0.0:8443';
  c.listeners = listeners;
  c.upstreams.maria = upstreamTo(pki.dir, 3306, { starttls: 'mysql' });
  c.routes = [{ upstream: 'backend', match: { listener: 'main' } }, ...routes];
  return c;
}

test('two listeners on one address are refused, naming both', async () => {
  const file = await writeConfig(pki.dir, config([{ name: 'again', listen: '127.0.0.1:8443' }], [{ upstream: 'backend', match: { listener: 'again' } }]), 'clash.yaml');
  const r = await runCli(['check', file]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /listeners\[0\]\.listen: 127\.0\.0\.1:8443 is the address of listen \(0\.0\.0\.0:8443\); two listeners cannot share one address/);
});

test('a mysql listener with two routes is refused; with one it passes', async () => {
  const mysql = [{ name: 'mysql', listen: '127.0.0.1:3306', starttls: 'mysql' }];
  const two = await writeConfig(pki.dir, config(mysql, [
    { upstream: 'maria', match: { listener: 'mysql' } },
    { upstream: 'maria', match: { listener: 'mysql', sni: 'db.example.com' } },
  ]), 'two.yaml');
  const r = await runCli(['check', two]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /listeners\[0\]: starttls mysql needs exactly one route \(the server speaks first, so the upstream is chosen before the client says anything\); 2 routes serve it/);
  const one = await writeConfig(pki.dir, config(mysql, [{ upstream: 'maria', match: { listener: 'mysql' } }]), 'one.yaml');
  const ok = await runCli(['check', one]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /one\.yaml: OK \(2 routes, upstreams: backend, maria, listen 0\.0\.0\.0:8443, listeners: mysql 127\.0\.0\.1:3306 \(mysql\)\)/);
});
