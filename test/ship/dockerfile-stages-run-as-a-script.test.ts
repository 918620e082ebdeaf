/**
 * The Dockerfile, without Docker (CI machines cannot run it):
 *
 * - it lints clean with dockerfile-utils (the linter of VS Code's Docker
 *   extension; hadolint is not packaged in Debian bookworm), and the same lint
 *   catches a broken instruction;
 * - the build context is what .dockerignore lets through, and the build
 *   stage's COPY and RUN instructions run here as a script in a temp directory
 *   standing in for the stage's file system (npm ci, tsc, npm prune);
 * - the runtime stage's COPY instructions lay out the image's /opt/countersign
 *   and /etc/countersign, and the image's ENTRYPOINT (`countersign`, with Node
 *   from this machine) prints its version and `check`s the image's default
 *   config with a dev PKI mounted where the config expects it; no
 *   devDependency is in the image.
 *
 * Not verified here: that the node:24-slim base image pulls and behaves like
 * this machine's Node 24; the runtime stage's one RUN (groupadd/useradd, the
 * state directory and the /usr/local/bin symlink: it changes a system's users,
 * so it is read, not run); USER, EXPOSE and HEALTHCHECK taking effect; the
 * HEALTHCHECK's /readyz answer (the admin listener is issue 16's).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { makePki, REPO_ROOT } from '../helpers/proxy-process.js';
import { runCommand } from '../helpers/run-command.js';
import { devOnlyDependencies } from '../helpers/dev-only-dependencies.js';

const dockerfile = await readFile(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'));
let tmp: string;

interface Stage { name?: string; root: string; workdir: string; env: Record<string, string>; instructions: Instruction[] }
const stages: Stage[] = [];

before(async () => { tmp = await mkdtemp(join(tmpdir(), 'countersign-docker-')); });
after(() => rm(tmp, { recursive: true, force: true }));

const args = (i: Instruction) => i.getArguments().map((a) => a.getValue()).filter((v) => !v.startsWith('--'));

test('the Dockerfile lints clean, and the lint catches a broken instruction', () => {
  assert.deepEqual(validate(dockerfile).map((d) => d.message), []);
  const broken = validate(dockerfile.replace('HEALTHCHECK --interval=10s', 'HEALTHCHECK --intervall=10s').replace('EXPOSE 8443', 'EXPOSE https'));
  assert.deepEqual(broken.map((d) => d.message).sort(), ['Invalid containerPort: https', 'Unknown flag: intervall']);
});

test('the build stage runs as a script; the runtime stage holds dist/src, bin and production dependencies only', { timeout: 300_000 }, async () => {
  // the build context: .dockerignore ignores everything but the listed paths
  const context = join(tmp, 'context');
  const ignore = (await readFile(join(REPO_ROOT, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  assert.equal(ignore[0], '*');
  for (const keep of ignore.slice(1)) {
    assert.ok(keep.startsWith('!'), keep);
    const p = keep.slice(1).replace(/\/$/, '');
    await mkdir(dirname(join(context, p)), { recursive: true });
    await cp(join(REPO_ROOT, p), join(context, p), { recursive: true });
  }

  for (const i of DockerfileParser.parse(dockerfile).getInstructions()) {
    const k = i.getKeyword();
    if (k === 'ARG' && stages.length === 0) continue;
    if (k === 'FROM') {
      const a = args(i);
      stages.push({ name: a[2], root: join(tmp, `stage${stages.length}`), workdir: '/', env: {}, instructions: [] });
      continue;
    }
    stages.at(-1)!.instructions.push(i);
  }
  assert.equal(stages.length, 2);
  assert.equal(stages[0].name, 'build');

  const inRoot = (s: Stage, p: string) => join(s.root, p.startsWith('/') ? p : join(s.workdir, p));
  for (const [n, s] of stages.entries()) {
    for (const i of s.instructions) {
      const k = i.getKeyword();
      if (k === 'WORKDIR') { s.workdir = args(i)[0]; await mkdir(inRoot(s, '.'), { recursive: true }); }
      else if (k === 'ENV') { const [key, value] = i.getArgumentsContent()!.split('='); s.env[key] = value; }
      else if (k === 'COPY') {
        const a = args(i);
        const dest = a.pop()!;
        const from = (i as Copy).getFromFlag()?.getValue() ?? undefined;
        const src = from ? stages.find((x) => x.name === from)!.root : context;
        for (const f of a) {
          const from_ = join(src, f);
          assert.ok(existsSync(from_), `COPY ${f}: not in the ${from ? `stage ${from}` : 'build context'}`);
          // a directory's contents go into dest; a file into dest/ or to dest
          const to = statSync(from_).isDirectory() || !dest.endsWith('/') ? inRoot(s, dest) : join(inRoot(s, dest), basename(f));
          await mkdir(statSync(from_).isDirectory() ? to : dirname(to), { recursive: true });
          await cp(from_, to, { recursive: true });
        }
      } else if (k === 'RUN') {
        const script = i.getArgumentsContent()!;
        if (n === 0) {
          const r = await runCommand('sh', ['-ec', script], { cwd: inRoot(s, '.'), env: { ...process.env, ...s.env }, timeoutMs: 240_000 });
          assert.equal(r.code, 0, `RUN ${script}\n${r.stdout}\n${r.stderr}`);
        } else {
          // the runtime stage's system changes (users, /var/lib, /usr/local/bin) are read, not run
          assert.match(script, /useradd --system --uid 10001/);
          assert.match(script, /install -d -o 10001 -g 10001 -m 0700 \/var\/lib\/countersign/);
        }
      }
    }
  }

  const image = stages[1];
  const app = join(image.root, 'opt/countersign');
  assert.deepEqual((await readdir(app)).sort(), ['bin', 'dist', 'node_modules', 'package.json']);
  assert.deepEqual(await readdir(join(app, 'dist')), ['src']);
  const devOnly = devOnlyDependencies();
  assert.ok(devOnly.includes('typescript'));
  for (const dev of devOnly) assert.equal(existsSync(join(app, 'node_modules', dev)), false, `devDependency ${dev} is in the image`);
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(app, 'node_modules', dep)), `dependency ${dep} is missing`);

  // ENTRYPOINT ["countersign"] is the symlink to bin/countersign.js
  const entry = JSON.parse(DockerfileParser.parse(dockerfile).getENTRYPOINTs()[0].getArgumentsContent()!);
  assert.deepEqual(entry, ['countersign']);
  const cli = join(app, 'bin/countersign.js');
  const version = await runCommand(process.execPath, [cli, '--version'], { cwd: '/' });
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, new RegExp(`^countersign ${pkg.version.replaceAll('.', '\\.')} \\(node v24\\.`));

  // CMD's config, with a dev PKI where the image's README says to mount it
  const cmd = JSON.parse(DockerfileParser.parse(dockerfile).getCMDs()[0].getArgumentsContent()!);
  assert.deepEqual(cmd, ['start', '--config', '/etc/countersign/countersign.yaml']);
  const pki = await makePki();
  await cp(pki.dir, join(image.root, 'etc/countersign/certs'), { recursive: true });
  const check = await runCommand(process.execPath, [cli, 'check', '--config', join(image.root, 'etc/countersign/countersign.yaml')], { cwd: '/' });
  assert.equal(check.code, 0, `${check.stdout}${check.stderr}`);
});

test('the HEALTHCHECK asks /readyz on the admin address the image\'s config documents', async () => {
  const hc = DockerfileParser.parse(dockerfile).getHEALTHCHECKs()[0].getArgumentsContent()!;
  assert.match(hc, /fetch\('http:\/\/127\.0\.0\.1:9901\/readyz'\)/);
  const config = await readFile(join(REPO_ROOT, 'examples/docker/countersign.yaml'), 'utf8');
  assert.match(config, /admin: \{ listen: 127\.0\.0\.1:9901 \}/);
});
