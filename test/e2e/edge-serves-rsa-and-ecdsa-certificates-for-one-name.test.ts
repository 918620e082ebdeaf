/**
 * An RSA and an ECDSA certificate for one name, through the real CLI: each
 * client gets the one it can verify, whether the name is the default or chosen
 * by SNI. Node gives a context picked by SNICallback to OpenSSL with only its
 * last certificate (nodejs/node#54235), so the edge chooses from the ClientHello.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { issueCertificate } from '../../src/pki/index.js';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { writePair, opensslLeaf } from '../helpers/edge-tls.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
const fp: Record<string, string> = {};

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  const ca = await issueCertificate({ subject: 'CN=dual CA', ca: true });
  const certificates = [];
  // The first pair (default) is plain; the dual name is chosen by SNI only.
  certificates.push({ cert: join(pki.dir, 'edge.crt'), key: join(pki.dir, 'edge.key') });
  for (const [name, keyAlgorithm] of [['rsa', 'rsa-2048'], ['ec', 'ec-p256']] as const) {
    const c = await issueCertificate({ subject: 'CN=dual.test', issuer: ca, usage: 'server', dnsNames: ['dual.test'], keyAlgorithm });
    fp[name] = c.cert.fingerprint256;
    certificates.push(await writePair(pki.dir, `dual-${name}`, c));
  }
  const cfg = baseConfig(pki.dir, backend.port, {}, { certificates });
  proxy = await startProxyProcess(await writeConfig(pki.dir, cfg));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

const base = () => ['-connect', `127.0.0.1:${proxy.port}`, '-servername', 'dual.test'];

test('a TLS 1.3 client that accepts only RSA signatures gets the RSA certificate', async () => {
  const { leaf } = await opensslLeaf([...base(), '-tls1_3', '-sigalgs', 'RSA-PSS+SHA256:RSA+SHA256']);
  assert.equal(leaf.fingerprint256, fp.rsa);
});

test('a TLS 1.3 client that accepts only ECDSA signatures gets the ECDSA certificate', async () => {
  const { leaf } = await opensslLeaf([...base(), '-tls1_3', '-sigalgs', 'ECDSA+SHA256']);
  assert.equal(leaf.fingerprint256, fp.ec);
});

test('TLS 1.2 clients get the certificate their cipher suite needs', async () => {
  assert.equal((await opensslLeaf([...base(), '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'])).leaf.fingerprint256, fp.rsa);
  assert.equal((await opensslLeaf([...base(), '-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256'])).leaf.fingerprint256, fp.ec);
});

test('a client that accepts both gets the one it lists first', async () => {
  assert.equal((await opensslLeaf([...base(), '-tls1_3', '-sigalgs', 'ECDSA+SHA256:RSA-PSS+SHA256'])).leaf.fingerprint256, fp.ec);
  assert.equal((await opensslLeaf([...base(), '-tls1_3', '-sigalgs', 'RSA-PSS+SHA256:ECDSA+SHA256'])).leaf.fingerprint256, fp.rsa);
});
