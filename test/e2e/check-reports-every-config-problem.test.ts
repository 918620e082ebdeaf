/**
 * `countersign check` on broken configurations: it prints every problem at
 * once, each prefixed with the path of the bad key, and exits 1 — broken YAML,
 * unknown keys and bad values, files that are missing, a key that does not
 * match its certificate, a delegation CA that is not a CA. `countersign start`
 * refuses the same files the same way, before listening.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, runCli, startProxyProcess, type TestPki } from '../helpers/proxy-process.js';

let pki: TestPki;
let files: Record<string, string>;

const good = (dir: string) => `
listen: 127.0.0.1:0
edge:
  certificates: [{ cert: edge.crt, key: edge.key }]
  clientAuth: { mode: require, ca: client-ca.crt }
delegation: { ca: { cert: delegation-ca.crt, key: delegation-ca.key } }
upstreams:
  kes: { servers: ["127.0.0.1:7373"], ca: backend-ca.crt, servername: backend.internal }
routes:
  - { upstream: kes }
# ${dir}
`;

before(async () => {
  pki = await makePki();
  files = {
    good: await writeConfig(pki.dir, good(pki.dir), 'good.yaml'),
    yaml: await writeConfig(pki.dir, good(pki.dir).replace('[{ cert: edge.crt, key: edge.key }]', '[{ cert: edge.crt, key: edge.key }'), 'broken-yaml.yaml'),
    keys: await writeConfig(pki.dir, `
lisen: 127.0.0.1:0
edge:
  certificates: [{ cert: edge.crt, key: edge.key }]
  clientAuth: { mdoe: require, ca: client-ca.crt }
upstreams:
  kes: { sevrers: ["127.0.0.1:7373"], ca: backend-ca.crt }
routes:
  - { upstream: kes, mode: tcp, identity: delegated }
timeouts: { idle: 5 minutes }
`, 'unknown-keys.yaml'),
    files: await writeConfig(pki.dir, `
listen: 127.0.0.1:0
edge:
  certificates: [{ cert: missing.crt, key: edge.key }, { cert: edge.crt, key: bob.key }]
  clientAuth: { mode: require, ca: client-ca.crt }
delegation: { ca: { cert: alice.crt, key: alice.key } }
upstreams:
  kes: { servers: ["127.0.0.1:7373"], ca: nowhere/backend-ca.crt }
routes:
  - { upstream: kes }
`, 'bad-files.yaml'),
  };
});

// each case spawns the CLI: run them side by side
describe('check and start on config files', { concurrency: true }, () => {
  test('a good config: OK, exit 0', async () => {
    const r = await runCli(['check', '--config', files.good]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /good\.yaml: OK \(1 route, upstreams: kes/);
  });

  test('broken YAML: the line and column, exit 1', async () => {
    const r = await runCli(['check', '--config', files.yaml]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /broken-yaml\.yaml: 1 problem/);
    assert.match(r.stderr, /YAML line \d+, column \d+: /);
  });

  test('unknown keys and bad values: every one, each with its path, exit 1', async () => {
    const r = await runCli(['check', '--config', files.keys]);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n').slice(1).map((l) => l.trim());
    for (const expected of [
      /^\(top level\): unknown key "lisen"; did you mean "listen"\?$/,
      /^edge\.clientAuth: unknown key "mdoe"; did you mean "mode"\?$/,
      /^upstreams\.kes: unknown key "sevrers"; did you mean "servers"\?$/,
      /^upstreams\.kes\.servers: is required$/,
      /^routes\[0\]\.mode: "tcp" is not one of connection, http(; did you mean "http"\?)?$/,
      /^timeouts\.idle: "5 minutes" is not a duration/,
    ]) {
      assert.ok(lines.some((l) => expected.test(l)), `${expected} in:\n${r.stderr}`);
    }
    assert.match(r.stderr, new RegExp(`unknown-keys\\.yaml: ${lines.length} problems`));
  });

  test('files: missing ones, a key that does not match, a delegation CA that is not a CA, exit 1', async () => {
    const r = await runCli(['check', '--config', files.files]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad-files\.yaml: 4 problems/);
    assert.match(r.stderr, /^ {2}edge\.certificates\[0\]\.cert: cannot read \S*missing\.crt \(no such file/m);
    assert.match(r.stderr, /^ {2}edge\.certificates\[1\]\.key: key does not match certificate/m);
    assert.match(r.stderr, /^ {2}delegation\.ca\.cert: .*alice.* is not a CA certificate \(basicConstraints CA:TRUE is missing\)/m);
    assert.match(r.stderr, /^ {2}upstreams\.kes\.ca: cannot read \S*nowhere\/backend-ca\.crt/m);
  });

  test('a config file that does not exist: a clear message, exit 1', async () => {
    const r = await runCli(['check', '--config', `${pki.dir}/no-such.yaml`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no-such\.yaml: cannot read the configuration \(ENOENT\)/);
  });

  test('start refuses the same configs with the same messages, before listening', async () => {
    const expected: [string, RegExp][] = [
      [files.yaml, /broken-yaml\.yaml: 1 problem\n {2}YAML line \d+, column \d+: /],
      [files.keys, /unknown-keys\.yaml: \d+ problems\n[\s\S]*\(top level\): unknown key "lisen"/],
      [files.files, /bad-files\.yaml: 4 problems\n[\s\S]*edge\.certificates\[1\]\.key: key does not match certificate/],
    ];
    await Promise.all(expected.map(([f, message]) => assert.rejects(startProxyProcess(f), (err: Error) => {
      assert.match(err.message, /exited with 1 before listening/);
      assert.match(err.message, message);
      return true;
    })));
  });
});
