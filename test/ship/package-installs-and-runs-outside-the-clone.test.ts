/**
 * The npm package as a user gets it: `npm pack` in the clone, then
 * `npm install -g --prefix TMP ./countersign-<version>.tgz` (runtime
 * dependencies come from the registry or the local npm cache; nothing is
 * compiled at install time), then the installed `countersign` run from a
 * directory outside the clone: `--version`, `certs init`, `check`, and a short
 * `start` that answers a real mTLS client.
 *
 * The pack uses `--ignore-scripts`: `npm test` has just built dist/, and the
 * `prepack` script (a clean rebuild) would rewrite dist/ under the tests running
 * beside this one. The scripts themselves are checked below.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { REPO_ROOT, startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { curl, curlStatus, runCommand } from '../helpers/run-command.js';
import { devOnlyDependencies } from '../helpers/dev-only-dependencies.js';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
let tmp: string;
let prefix: string;
let work: string;
let bin: string;
let installed: string;
let proxy: ProxyProcess | undefined;
// the installed bin's `#!/usr/bin/env node` finds this Node first
const env = { ...process.env, PATH: [dirname(process.execPath), process.env.PATH].join(delimiter) };

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'countersign-package-'));
  prefix = join(tmp, 'prefix');
  work = join(tmp, 'somewhere-else');
  await mkdir(work);
  const packed = await runCommand('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: REPO_ROOT, timeoutMs: 60_000 });
  assert.equal(packed.code, 0, packed.stderr);
  const [info] = JSON.parse(packed.stdout);
  assert.equal(info.filename, `countersign-${pkg.version}.tgz`);
  const tarball = join(tmp, info.filename);
  const inst = await runCommand('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: work, timeoutMs: 180_000 });
  assert.equal(inst.code, 0, `npm install -g failed:\n${inst.stdout}\n${inst.stderr}`);
  bin = join(prefix, 'bin', 'countersign');
  installed = join(prefix, 'lib', 'node_modules', 'countersign');
});
after(async () => {
  await proxy?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The scripts npm runs (or warns about, npm 11's allowScripts) when a package is installed. */
const INSTALL_TIME_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepublish', 'preprepare', 'prepare', 'postprepare'];

test('package.json builds at pack time only; the installed manifest carries no install-time script', () => {
  assert.ok(pkg.scripts.prepack?.includes('tsc'), 'prepack builds dist/');
  // the clone's own commands build for themselves (README: `npm ci && npm start`, `npm test`)
  for (const s of ['start', 'test', 'bench']) assert.match(pkg.scripts[s], /\btsc -p tsconfig\.json\b/, `"${s}" builds dist/ itself`);
  const shipped = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
  for (const manifest of [pkg, shipped]) {
    const found = INSTALL_TIME_SCRIPTS.filter((s) => manifest.scripts?.[s] !== undefined);
    assert.deepEqual(found, [], `no install-time script (${manifest === pkg ? 'package.json' : 'the installed package.json'})`);
  }
});

test('the package holds dist/src, bin, docs, examples and README; no sources, tests or source maps', () => {
  assert.ok(statSync(bin).isFile() || statSync(bin).isSymbolicLink());
  const top = readdirSync(installed).sort();
  assert.deepEqual(top.filter((f) => f !== 'node_modules'), ['README.md', 'bin', 'dist', 'docs', 'examples', 'package.json']);
  assert.deepEqual(readdirSync(join(installed, 'dist')), ['src']);
  const all: string[] = [];
  const walk = (d: string) => { for (const f of readdirSync(d, { withFileTypes: true })) { const p = join(d, f.name); if (f.isDirectory()) walk(p); else all.push(p); } };
  walk(join(installed, 'dist'));
  assert.ok(all.some((f) => f.endsWith('dist/src/cli/main.js')));
  assert.deepEqual(all.filter((f) => f.endsWith('.map') || (f.endsWith('.ts') && !f.endsWith('.d.ts'))), []);
});

test('only runtime dependencies are installed', () => {
  const nm = join(installed, 'node_modules');
  const devOnly = devOnlyDependencies();
  assert.ok(devOnly.includes('typescript'));
  for (const dev of devOnly) assert.equal(existsSync(join(nm, dev)), false, `devDependency ${dev} was installed`);
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(nm, dep)), `dependency ${dep} is missing`);
});

test('countersign --version prints its version, Node\'s and OpenSSL\'s', async () => {
  const r = await runCommand(bin, ['--version'], { cwd: work, env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `countersign ${pkg.version} (node ${process.version}, OpenSSL ${process.versions.openssl})`);
});

test('certs init, check and start work from a directory outside the clone', async () => {
  const init = await runCommand(bin, ['certs', 'init', '--out', 'certs'], { cwd: work, env, timeoutMs: 60_000 });
  assert.equal(init.code, 0, init.stderr);
  assert.equal(statSync(join(work, 'certs', 'alice.key')).mode & 0o777, 0o600);
  // an http route to an upstream nobody listens on: the installed proxy must
  // terminate mTLS, verify alice and answer 502 itself
  await writeFile(join(work, 'countersign.yaml'), stringify({
    listen: '127.0.0.1:0',
    edge: { certificates: [{ cert: 'certs/edge.crt', key: 'certs/edge.key' }], clientAuth: { mode: 'require', ca: 'certs/client-ca.crt' } },
    delegation: { ca: { cert: 'certs/delegation-ca.crt', key: 'certs/delegation-ca.key' } },
    upstreams: { backend: { servers: ['127.0.0.1:9'], ca: 'certs/backend-ca.crt', servername: 'backend.internal' } },
    routes: [{ upstream: 'backend', mode: 'http' }],
  }));
  const check = await runCommand(bin, ['check', '--config', 'countersign.yaml'], { cwd: work, env });
  assert.equal(check.code, 0, `${check.stdout}${check.stderr}`);
  proxy = await startProxyProcess('countersign.yaml', [], { command: [bin], cwd: work, env });
  // the installed command runs with the shebang's allocator setting and Node flag (bin/countersign.js)
  const pid = proxy.child.pid!;
  assert.ok(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('MALLOC_ARENA_MAX=2'), 'MALLOC_ARENA_MAX=2 in the proxy\'s environment');
  assert.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--max-semi-space-size=2'), '--max-semi-space-size=2 on its command line');
  const certs = join(work, 'certs');
  const r = curlStatus(await curl(certs, 'alice', `https://localhost:${proxy.port}/v1/status`));
  assert.equal(r.status, 502, r.body);
  const noCert = curlStatus(await curl(certs, undefined, `https://localhost:${proxy.port}/v1/status`));
  assert.equal(noCert.status, 400, noCert.body);
  assert.equal(await proxy.stop(), 0);
});
