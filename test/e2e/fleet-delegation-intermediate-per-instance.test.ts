/**
 * One delegation intermediate per proxy instance under a shared root: each
 * instance's delegation.ca is its own intermediate (the file may carry the
 * root after it); the minted certificate goes upstream with the intermediate;
 * the backend's TLS server trusts only the root, and countersign/backend pins
 * only the root. Two real countersign processes, one backend: both instances'
 * clients arrive as delegated alice. OpenSSL verifies a minted chain with
 * `verify -purpose sslclient` against the root. An intermediate under another
 * root is refused by the backend library even when the TLS server trusts
 * that root too (the pin is the signature chain, not the TLS trust store).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createIdentifier } from '../../src/backend/index.js';
import { DelegationMinter } from '../../src/delegation/index.js';
import { DEFAULT_DELEGATION_LIMITS } from '../../src/config/index.js';
import { describeCertificate, loadSigningCa } from '../../src/pki/index.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/index.js';
import { baseConfig, makePki, startProxyProcess, writeConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus, runCommand } from '../helpers/run-command.js';
import { identityOfFile } from '../helpers/e2e.js';

let pki: TestPki;
let dir: string;
let root: IssuedCertificate;
let intA: IssuedCertificate;
let intB: IssuedCertificate;
let backend: HttpsBackend;
const proxies: ProxyProcess[] = [];

before(async () => {
  pki = await makePki();
  dir = await mkdtemp(join(tmpdir(), 'countersign-intermediates-'));
  root = await issueCertificate({ subject: 'CN=fleet delegation root', ca: true });
  intA = await issueCertificate({ subject: 'CN=delegation intermediate, OU=instance a', ca: true, issuer: root });
  intB = await issueCertificate({ subject: 'CN=delegation intermediate, OU=instance b', ca: true, issuer: root });
  // instance a's file carries the root after its intermediate; b's only the intermediate
  await writeFile(join(dir, 'a.crt'), intA.certPem + root.certPem);
  await writeFile(join(dir, 'a.key'), intA.keyPem, { mode: 0o600 });
  await writeFile(join(dir, 'b.crt'), intB.certPem);
  await writeFile(join(dir, 'b.key'), intB.keyPem, { mode: 0o600 });
  // the backend's PKI dir: its own certificate, and the ROOT as its delegation CA
  const backendDir = join(dir, 'backend');
  await rm(backendDir, { recursive: true, force: true });
  await (await import('node:fs/promises')).mkdir(backendDir);
  for (const f of ['backend.crt', 'backend.key']) await copyFile(join(pki.dir, f), join(backendDir, f));
  await writeFile(join(backendDir, 'delegation-ca.crt'), root.certPem);
  backend = await startHttpsBackend({ pkiDir: backendDir });
  for (const name of ['a', 'b']) {
    const c = baseConfig(pki.dir, backend.port, { mode: 'http' });
    c.delegation = { ca: { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }, ttl: '1h' };
    proxies.push(await startProxyProcess(await writeConfig(dir, c, `${name}.yaml`)));
  }
});
after(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

test('clients through either instance reach a backend that trusts and pins only the root, as delegated alice', async () => {
  const alice = identityOfFile(pki.dir, 'alice');
  for (const p of proxies) {
    const mark = backend.requests.length;
    const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${p.port}/v1/status`));
    assert.equal(r.status, 200, r.body);
    const seen = backend.requests.slice(mark);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].identifyError, undefined);
    assert.equal(seen[0].via, 'delegated');
    assert.equal(seen[0].identity, alice);
  }
});

test('a minted chain verifies with openssl verify -purpose sslclient against the root, and not without the intermediate', async () => {
  const minter = new DelegationMinter({ ...DEFAULT_DELEGATION_LIMITS, ca: loadSigningCa({ certPem: readFileSync(join(dir, 'a.crt')), keyPem: readFileSync(join(dir, 'a.key')), what: 'delegation.ca' }) });
  try {
    const creds = minter.credentialsFor(describeCertificate(pki.pki.clients.alice.cert), { namesVouched: true });
    const blocks = creds.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
    assert.equal(blocks.length, 2, 'the minted certificate and the intermediate, not the root');
    await writeFile(join(dir, 'leaf.pem'), blocks[0]);
    await writeFile(join(dir, 'int.pem'), blocks[1]);
    await writeFile(join(dir, 'root.pem'), root.certPem);
    const ok = await runCommand('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'int.pem'), join(dir, 'leaf.pem')]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /leaf\.pem: OK/);
    const without = await runCommand('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', join(dir, 'root.pem'), join(dir, 'leaf.pem')]);
    assert.notEqual(without.code, 0, 'the intermediate is needed');
  } finally { minter.stop(); }
});

test('an intermediate under another root is refused by the backend library even if the TLS server trusts that root', async () => {
  const rogueRoot = await issueCertificate({ subject: 'CN=fleet delegation root', ca: true }); // same name, other key
  const rogueInt = await issueCertificate({ subject: 'CN=delegation intermediate, OU=instance a', ca: true, issuer: rogueRoot });
  const minter = new DelegationMinter({ ...DEFAULT_DELEGATION_LIMITS, ca: loadSigningCa({ certPem: rogueInt.certPem, keyPem: rogueInt.keyPem, what: 'delegation.ca' }) });
  const identifier = createIdentifier({ delegationCAs: root.certPem });
  const server = createServer({
    cert: readFileSync(join(pki.dir, 'backend.crt')), key: readFileSync(join(pki.dir, 'backend.key')),
    ca: [root.certPem, rogueRoot.certPem], requestCert: true, rejectUnauthorized: false,
  });
  const result = new Promise<string>((resolve) => server.once('secureConnection', (s: TLSSocket) => {
    try { resolve(`identified ${identifier.identify(s).via}`); } catch (err) { resolve((err as Error & { code?: string }).code ?? String(err)); }
    s.destroy();
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const creds = minter.credentialsFor(describeCertificate(pki.pki.clients.alice.cert), { namesVouched: true });
    const c = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', cert: creds.chainPem, key: creds.keyPem, rejectUnauthorized: false });
    c.on('error', () => {});
    assert.equal(await result, 'ERR_DELEGATION_UNTRUSTED_ISSUER');
    c.destroy();
  } finally {
    minter.stop();
    await new Promise((r) => server.close(r));
  }
});
