/**
 * examples/systemd/countersign.service passes Debian's `systemd-analyze verify`
 * with no warnings at all (verify exits 0 on an unknown key or a bad value, so
 * its output must be empty too), scores "OK" in `systemd-analyze security
 * --offline`, and carries the hardening the docs promise.
 *
 * What this does not verify: starting the unit under a running systemd (PID 1
 * here is not systemd). verify checks that ExecStart's binary exists and is
 * executable, so the test points it at this clone's bin/countersign.js; the
 * unit's own path (/usr/local/bin/countersign, npm's global prefix with
 * Debian's nodejs) is checked only as text.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO_ROOT } from '../helpers/proxy-process.js';
import { runCommand } from '../helpers/run-command.js';

const UNIT = join(REPO_ROOT, 'examples/systemd/countersign.service');
const INSTALLED = '/usr/local/bin/countersign';
let dir: string;
let text: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'countersign-systemd-'));
  text = await readFile(UNIT, 'utf8');
});
after(() => rm(dir, { recursive: true, force: true }));

/** The unit with ExecStart pointing at this clone, written as <dir>/<name>. */
async function localUnit(content: string, name = 'countersign.service'): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, content.replaceAll(INSTALLED, CLI));
  return p;
}

function directives(unit: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#') || t.startsWith('[')) continue;
    const i = t.indexOf('=');
    const k = t.slice(0, i);
    m.set(k, [...(m.get(k) ?? []), t.slice(i + 1)]);
  }
  return m;
}

test('systemd-analyze verify accepts the unit without a single warning', async () => {
  const r = await runCommand('systemd-analyze', ['verify', await localUnit(text)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${r.stdout}${r.stderr}`.trim(), '');
});

test('the same check catches a typo in a directive and a value it cannot parse', async () => {
  const broken = await localUnit(text.replace('ProtectSystem=strict', 'ProtectSystem=sstrict').replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes'), 'broken.service');
  const r = await runCommand('systemd-analyze', ['verify', broken]);
  assert.match(r.stderr, /Failed to parse protect system value/);
  assert.match(r.stderr, /Unknown key 'NoNewPrivilege'/);
});

test('systemd-analyze security --offline rates the unit OK (exposure at most 2.0 of 10)', async () => {
  const r = await runCommand('systemd-analyze', ['security', '--offline=yes', '--threshold=20', await localUnit(text)]);
  const overall = r.stdout.match(/Overall exposure level for countersign\.service: ([\d.]+) (\w+)/);
  assert.ok(overall, r.stdout + r.stderr);
  assert.equal(r.code, 0, `exposure ${overall[1]} ${overall[2]} is above 2.0`);
  assert.equal(overall[2], 'OK');
});

test('the unit runs as a dedicated user with the promised hardening, and reloads with SIGHUP', () => {
  const d = directives(text);
  const one = (k: string) => d.get(k)?.join(' ');
  assert.equal(one('User'), 'countersign');
  assert.equal(one('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
  assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
  assert.equal(one('ProtectSystem'), 'strict');
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.equal(one('PrivateTmp'), 'yes');
  assert.equal(one('ReadOnlyPaths'), '/etc/countersign');
  assert.equal(one('StateDirectory'), 'countersign');
  assert.equal(one('StateDirectoryMode'), '0700');
  assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(one('ExecStart'), `${INSTALLED} start --config /etc/countersign/countersign.yaml`);
  assert.equal(one('ExecStartPre'), `${INSTALLED} check --config /etc/countersign/countersign.yaml`);
});

test('systemd-sysusers (dry run, in an empty root) creates the user and group the unit names', async () => {
  const r = await runCommand('systemd-sysusers', ['--dry-run', `--root=${dir}`, join(REPO_ROOT, 'examples/systemd/countersign.sysusers')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr + r.stdout, /Creating group 'countersign'/);
  assert.match(r.stderr + r.stdout, /Creating user 'countersign'/);
});
