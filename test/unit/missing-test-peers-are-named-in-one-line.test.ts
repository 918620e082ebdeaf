/**
 * `npm test` on a machine without the real programs the tests talk to:
 * scripts/check-peers.mjs (its first step) names each missing one with its
 * package in one line, with the one command that installs them all
 * (scripts/install-peers.sh, which .ci/run runs), and stops the run — no test
 * waits for a server that cannot start. Every program a test starts is on the
 * list the two scripts read (scripts/test-peers.txt).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { REPO_ROOT } from '../helpers/proxy-process.js';
import { runCommand } from '../helpers/run-command.js';

const listed = readFileSync(join(REPO_ROOT, 'scripts/test-peers.txt'), 'utf8').split('\n')
  .map((l) => l.replace(/#.*/, '').trim()).filter(Boolean).map((l) => l.split(/\s+/)[0]);

test('with no peer on PATH, one line names each missing peer, its package and the one command that installs them all; exit 1', async () => {
  const r = await runCommand(process.execPath, [join(REPO_ROOT, 'scripts/check-peers.mjs')], { env: { PATH: '/nonexistent' } });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  for (const named of ['etcd (etcd-server)', 'etcdctl (etcd-client)', 'mosquitto (mosquitto)', 'redis-cli (redis-tools)', 'psql (postgresql-client-15)', 'pebble-challtestsrv (pebble)', 'curl (curl)']) {
    assert.ok(lines[0].includes(named), `${named} in: ${lines[0]}`);
  }
  assert.match(lines[0], /^npm test: missing test peers: .*; install them all with: sudo bash scripts\/install-peers\.sh \(what \.ci\/run does\)$/);
  assert.doesNotMatch(lines[0], /caddy|\bab\b/, 'benchmark-only peers are not npm test\'s');
});

test('npm test checks the peers before anything else; .ci/run installs them with the same script', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
  assert.match(pkg.scripts.test, /^node bin\/require-node\.js && node scripts\/check-peers\.mjs && /);
  assert.match(readFileSync(join(REPO_ROOT, '.ci/run'), 'utf8'), /^bash scripts\/install-peers\.sh$/m);
  assert.match(readFileSync(join(REPO_ROOT, 'scripts/install-peers.sh'), 'utf8'), /< scripts\/test-peers\.txt/);
});

test('every program a test starts is a listed peer (or part of the base system)', () => {
  const BASE = new Set(['sh', 'id', 'getconf', 'npm', 'node', 'stdbuf', 'setpriv', 'grep']);
  const names = new Set(listed.map((check) => basename(check.split(':')[0])));
  const started = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) { walk(path); continue; }
      if (!e.name.endsWith('.ts')) continue;
      // runCommand('etcdctl', …), spawn('etcd', …), execFile('curl', …), a helper's run('haproxy', …)
      for (const m of readFileSync(path, 'utf8').matchAll(/\b(?:runCommand|spawn|spawnSync|execFile|execFileSync|run)\(\s*'([\w./-]+)'/g)) {
        started.set(basename(m[1]), path);
      }
    }
  };
  walk(join(REPO_ROOT, 'test'));
  for (const known of ['etcd', 'etcdctl', 'curl', 'openssl', 'haproxy']) assert.ok(started.has(known), `the scan finds ${known}`);
  const unlisted = [...started].filter(([name]) => !names.has(name) && !BASE.has(name)).map(([name, file]) => `${name} (${file})`);
  assert.deepEqual(unlisted, [], 'add them to scripts/test-peers.txt with their Debian package');
});
