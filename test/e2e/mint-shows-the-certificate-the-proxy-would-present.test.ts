/**
 * `countersign mint --for CLIENT.crt --config FILE`: the built CLI mints, from
 * the configured delegation CA, the certificate the proxy would present for
 * that client. Printed, it is what `countersign inspect` reads (the client's
 * subject, the delegation CA as issuer, the extension naming the client);
 * with `--out NAME` the certificate and its key (0600) are written, never
 * over an existing file, and a backend trusting only the delegation CA
 * identifies the client by it. The key is never printed. A client on
 * `edge.deny` gets nothing; one no configured CA vouches for is refused under
 * `require` and minted `CN=<identity>` without its names under `any`, as the
 * edge would. docs/delegation.md's block runs as written.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { baseConfig, makePki, makeWorkdir, runCli, writeConfig, type TestPki } from '../helpers/proxy-process.js';
import { docBlock, runShell } from '../helpers/doc-blocks.js';
import { identityOfFile, writeIssued } from '../helpers/e2e.js';
import { startTlsBackend, type TlsBackend } from '../helpers/node-backend.js';

let pki: TestPki;
let configFile: string;
let backend: TlsBackend;

before(async () => {
  pki = await makePki();
  backend = await startTlsBackend({ pkiDir: pki.dir, onConnection: (c) => c.socket.end(`hello ${c.identity ?? c.identifyError}\n`) });
  configFile = await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, {}, { deny: [identityOfFile(pki.dir, 'root')] }));
});
after(async () => { await backend?.close(); });

const mint = (...args: string[]) => runCli(['mint', '--config', configFile, ...args]);

test('printed, the minted certificate is what inspect reads: the client\'s subject, the delegation CA, the client in the extension; no key', async () => {
  const r = await mint('--for', pki.file('alice.crt'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
  assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
  assert.match(r.stderr, new RegExp(`minted for CN=alice, O=countersign dev \\(identity ${identityOfFile(pki.dir, 'alice')}\\)`));
  const minted = join(pki.dir, 'minted.crt');
  await writeFile(minted, r.stdout);
  const inspected = await runCli(['inspect', minted, '--json']);
  assert.equal(inspected.code, 0, inspected.stderr);
  const report = JSON.parse(inspected.stdout);
  assert.equal(report.subject, 'CN=alice, O=countersign dev');
  assert.equal(report.issuer, new X509Certificate(readFileSync(pki.file('delegation-ca.crt'))).subject.split('\n').join(', '));
  assert.equal(report.delegation.originalIdentity, identityOfFile(pki.dir, 'alice'));
  assert.notEqual(report.identity, identityOfFile(pki.dir, 'alice'), 'a fresh key, not the client\'s');
});

test('--out writes the certificate and its 0600 key, never over an existing file; a backend that trusts the delegation CA identifies the client by it', async () => {
  const out = join(pki.dir, 'alice-minted');
  const r = await mint('--for', pki.file('alice.crt'), '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
  assert.equal(statSync(`${out}.key`).mode & 0o777, 0o600);
  const cert = new X509Certificate(readFileSync(`${out}.crt`));
  assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(`${out}.key`))));

  const again = await mint('--for', pki.file('bob.crt'), '--out', out);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /alice-minted\.key exists; remove it or choose another --out/);
  assert.equal(new X509Certificate(readFileSync(`${out}.crt`)).serialNumber, cert.serialNumber, 'left as it was');

  const said = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1', port: backend.port, servername: 'backend.internal', ca: readFileSync(pki.file('backend-ca.crt')),
      cert: readFileSync(`${out}.crt`), key: readFileSync(`${out}.key`),
    });
    let data = '';
    s.on('data', (d) => { data += d; });
    s.once('end', () => resolve(data));
    s.once('error', reject);
  });
  assert.equal(said.trim(), `hello ${identityOfFile(pki.dir, 'alice')}`);
});

test('a client on edge.deny gets nothing minted', async () => {
  const out = join(pki.dir, 'root-minted');
  const r = await mint('--for', pki.file('root.crt'), '--out', out);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is on edge\.deny: the edge refuses this client, nothing is minted for it/);
  assert.equal(existsSync(`${out}.key`), false);
  assert.equal(r.stdout, '');
});

test('usage errors name what is missing', async () => {
  const r = await runCli(['mint', '--for', pki.file('alice.crt')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--config FILE is required/);
  const missing = await mint('--for', join(pki.dir, 'nobody.crt'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nobody\.crt: no such file/);
});

test('docs/delegation.md\'s mint-and-inspect block, run as written next to an example\'s config, shows the extension naming alice', async () => {
  const { dir } = await makeWorkdir({ example: 'etcd' });
  const r = await runShell(docBlock('docs/delegation.md', 'mint-and-inspect').text, { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ {4}original subject: +CN=alice, O=countersign dev$/m);
  assert.match(r.stdout, new RegExp(`^ {4}original identity: +${identityOfFile(join(dir, 'certs'), 'alice')}$`, 'm'));
  assert.doesNotMatch(r.stdout + r.stderr + readFileSync(join(dir, 'alice-minted.crt'), 'utf8'), /PRIVATE KEY/);
});

test('a client no configured CA vouches for: refused under require, minted CN=<identity> without its names under any', async () => {
  await writeIssued(pki.dir, 'self', { subject: 'CN=self-made, O=system:masters', dnsNames: ['admin.example.com'] });
  const refused = await mint('--for', pki.file('self.crt'));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /self\.crt does not chain to edge\.clientAuth\.ca \(unknown CA\): the edge refuses this client under mode require, nothing is minted for it/);
  assert.equal(refused.stdout, '');

  const anyConfig = await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, {}, { clientAuth: { mode: 'any' } }), 'any.yaml');
  const r = await runCli(['mint', '--config', anyConfig, '--for', pki.file('self.crt')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /as CN=<identity>, its names vouched for by no configured CA \(mode any\)/);
  const minted = join(pki.dir, 'self-minted.crt');
  await writeFile(minted, r.stdout);
  const report = JSON.parse((await runCli(['inspect', minted, '--json'])).stdout);
  assert.equal(report.subject, `CN=${identityOfFile(pki.dir, 'self')}`);
  assert.deepEqual(report.subjectAltNames, []);
  assert.equal(report.delegation.originalIdentity, identityOfFile(pki.dir, 'self'));
});
