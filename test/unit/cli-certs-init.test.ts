import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, stat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { command } from '../../src/cli/commands/certs-init.js';
import { captureIo, tempDir } from '../helpers/delegation-pki.js';

let tmp: { dir: string; remove: () => Promise<void> };
before(async () => { tmp = await tempDir(); });
after(async () => { await tmp.remove(); });

test('writes the dev PKI, prints each file with its description, keys 0600', async () => {
  const out = join(tmp.dir, 'pki');
  const io = captureIo();
  assert.equal(await command.run(['--out', out], io), 0, io.stderr.join('\n'));
  const files = (await readdir(out)).sort();
  assert.ok(files.includes('delegation-ca.crt') && files.includes('delegation-ca.key') && files.includes('alice.crt') && files.includes('proxy-client.key'), files.join(' '));
  for (const f of files) {
    const line = io.stdout.find((l) => l.startsWith(join(out, f)));
    assert.ok(line, `${f} is printed`);
    assert.match(line, /\S+\s{2,}\S/, `${f} has a description`);
    const mode = (await stat(join(out, f))).mode & 0o777;
    assert.equal(mode, f.endsWith('.key') ? 0o600 : 0o644, `${f} mode ${mode.toString(8)}`);
  }
  assert.equal(io.stdout.filter((l) => l.startsWith(out)).length, files.length);
  assert.ok(new X509Certificate(await readFile(join(out, 'delegation-ca.crt'))).ca);
  assert.match(io.stdout.find((l) => l.includes('delegation-ca.crt')) ?? '', /delegation CA/);
});

test('refuses to overwrite an existing PKI without --force, and overwrites with it', async () => {
  const out = join(tmp.dir, 'again');
  assert.equal(await command.run([`--out=${out}`], captureIo()), 0);
  const before = await readFile(join(out, 'delegation-ca.crt'), 'utf8');
  const io = captureIo();
  assert.equal(await command.run(['--out', out], io), 1);
  assert.match(io.stderr.join('\n'), /already holds a PKI .*pass --force to overwrite/);
  assert.equal(await readFile(join(out, 'delegation-ca.crt'), 'utf8'), before, 'nothing was touched');
  assert.equal(await command.run(['--out', out, '--force'], captureIo()), 0);
  assert.notEqual(await readFile(join(out, 'delegation-ca.crt'), 'utf8'), before, 'new CA written');
});

test('a directory holding any certificate or key counts as an existing PKI', async () => {
  const out = join(tmp.dir, 'foreign');
  await mkdir(out);
  await writeFile(join(out, 'mine.key'), 'x');
  assert.equal(await command.run(['--out', out], captureIo()), 1);
  await writeFile(join(out, 'README'), 'x');
  const empty = join(tmp.dir, 'unrelated');
  await mkdir(empty);
  await writeFile(join(empty, 'notes.txt'), 'x');
  assert.equal(await command.run(['--out', empty], captureIo()), 0, 'other files do not block');
});

test('the default directory is ./certs', async () => {
  const cwd = process.cwd();
  process.chdir(tmp.dir);
  try {
    const io = captureIo();
    assert.equal(await command.run([], io), 0);
    assert.ok((await stat(join(tmp.dir, 'certs', 'edge.crt'))).isFile());
    assert.ok(io.stdout.some((l) => l.startsWith(join('certs', 'edge.crt'))));
  } finally {
    process.chdir(cwd);
  }
});

test('usage errors exit 2 with the usage line', async () => {
  for (const args of [['--out'], ['--bogus'], ['extra'], ['--out=']]) {
    const io = captureIo();
    assert.equal(await command.run(args, io), 2, args.join(' '));
    assert.ok(io.stderr.some((l) => l === `usage: ${command.usage}`));
  }
});

test('the command is named for main.ts to dispatch', () => {
  assert.equal(command.name, 'certs init');
  assert.match(command.usage, /^countersign certs init/);
});
