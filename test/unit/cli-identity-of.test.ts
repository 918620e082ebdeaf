import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { command } from '../../src/cli/commands/identity-of.js';
import { issueCertificate, type KeyAlgorithm } from '../../src/pki/dev/issue-certificate.js';
import { captureIo, tempDir } from '../helpers/delegation-pki.js';
import { ALICE_IDENTITY, ALICE_PEM } from '../helpers/golden-certificates.js';

const run = promisify(execFile);
let tmp: { dir: string; remove: () => Promise<void> };
before(async () => { tmp = await tempDir(); });
after(async () => { await tmp.remove(); });

async function opensslIdentity(file: string): Promise<string> {
  const { stdout } = await run('sh', ['-c', 'openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum', 'sh', file]);
  return stdout.split(' ')[0];
}

async function identityOfFile(file: string): Promise<string> {
  const io = captureIo();
  assert.equal(await command.run([file], io), 0, io.stderr.join('\n'));
  assert.equal(io.stdout.length, 1);
  return io.stdout[0];
}

test('prints exactly what the openssl pipeline prints (the kes tool identity of value)', async () => {
  const file = join(tmp.dir, 'golden.crt');
  await writeFile(file, ALICE_PEM);
  assert.equal(await identityOfFile(file), ALICE_IDENTITY);
  assert.equal(await opensslIdentity(file), ALICE_IDENTITY);
});

for (const alg of ['ec-p256', 'ec-p384', 'rsa-2048', 'ed25519'] as KeyAlgorithm[]) {
  test(`${alg}: PEM and DER files give the openssl identity`, async () => {
    const c = await issueCertificate({ subject: `CN=${alg}`, keyAlgorithm: alg });
    const pem = join(tmp.dir, `${alg}.pem`);
    const der = join(tmp.dir, `${alg}.der`);
    await writeFile(pem, c.certPem);
    await writeFile(der, new X509Certificate(c.certPem).raw);
    const expected = await opensslIdentity(pem);
    assert.match(expected, /^[0-9a-f]{64}$/);
    assert.equal(await identityOfFile(pem), expected);
    assert.equal(await identityOfFile(der), expected);
  });
}

test('a bundle gives the identity of its first certificate', async () => {
  const a = await issueCertificate({ subject: 'CN=first' });
  const b = await issueCertificate({ subject: 'CN=second' });
  const file = join(tmp.dir, 'bundle.pem');
  await writeFile(file, a.certPem + b.certPem);
  const first = join(tmp.dir, 'first.pem');
  await writeFile(first, a.certPem);
  assert.equal(await identityOfFile(file), await opensslIdentity(first));
});

test('a missing file or a file without a certificate exits 1 with a message naming it', async () => {
  let io = captureIo();
  assert.equal(await command.run([join(tmp.dir, 'nope.crt')], io), 1);
  assert.match(io.stderr[0], /nope\.crt: no such file/);
  const junk = join(tmp.dir, 'junk.txt');
  await writeFile(junk, 'hello');
  io = captureIo();
  assert.equal(await command.run([junk], io), 1);
  assert.match(io.stderr[0], /junk\.txt: no "-----BEGIN CERTIFICATE-----" block found/);
  const garbage = join(tmp.dir, 'garbage.der');
  await writeFile(garbage, Buffer.from('3003020101', 'hex'));
  io = captureIo();
  assert.equal(await command.run([garbage], io), 1);
  assert.match(io.stderr[0], /garbage\.der: /);
});

test('usage errors exit 2', async () => {
  for (const args of [[], ['a', 'b'], ['--nope']]) {
    const io = captureIo();
    assert.equal(await command.run(args, io), 2, JSON.stringify(args));
    assert.ok(io.stderr.includes(`usage: ${command.usage}`));
  }
  assert.equal(command.name, 'identity of');
});
