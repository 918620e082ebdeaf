/**
 * Connection mode, delegated identity, in front of a plain `openssl s_server`
 * that requires a client certificate: the backend accepts the minted
 * certificate, sees alice's subject, and the certificate it captured carries
 * alice's identity in the delegation extension.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startOpensslServer, type OpensslServer } from '../helpers/openssl-server.js';
import { runCommand } from '../helpers/run-command.js';
import { waitFor } from '../helpers/wait.js';
import { describeCertificate, identityOf, certificatesDer, parseCertificateFields, findExtension } from '../../src/pki/index.js';
import { DELEGATION_OID, decodeDelegationExtension } from '../../src/delegation/index.js';

let pki: TestPki;
let backend: OpensslServer;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startOpensslServer({ cert: `${pki.dir}/backend.crt`, key: `${pki.dir}/backend.key`, caFile: `${pki.dir}/delegation-ca.crt` });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port)));
});
after(async () => { await proxy?.stop(); await backend?.stop(); });

test('openssl s_client as alice reaches the openssl backend, which verifies the minted certificate', async () => {
  const r = await runCommand('openssl', [
    's_client', '-connect', `127.0.0.1:${proxy.port}`, '-servername', 'localhost', '-CAfile', `${pki.dir}/edge-ca.crt`,
    '-cert', `${pki.dir}/alice.crt`, '-key', `${pki.dir}/alice.key`, '-quiet', '-no_ign_eof', '-verify_return_error',
  ], { input: 'hello through countersign\n', timeoutMs: 8000 });
  assert.match(r.stderr, /verify return:1/);
  await waitFor(() => backend.output().includes('hello through countersign'), `the bytes at the backend (it printed: ${backend.output()})`);
  const captured = backend.clientCertificates();
  assert.equal(captured.length, 1);
  const minted = new X509Certificate(captured[0]);
  const alice = describeCertificate(certificatesDer(readFileSync(`${pki.dir}/alice.crt`))[0]);
  assert.equal(minted.subject, new X509Certificate(readFileSync(`${pki.dir}/alice.crt`)).subject, 'subject copied verbatim');
  assert.notEqual(identityOf(minted.raw), alice.identity, 'the minted key is not the client key');
  const ext = findExtension(parseCertificateFields(minted.raw), DELEGATION_OID);
  assert.ok(ext, 'minted certificate carries the delegation extension');
  assert.equal(ext.critical, false);
  const d = decodeDelegationExtension(ext.value);
  assert.equal(d.spkiSha256.toString('hex'), alice.identity);
  assert.equal(d.certSha256.toString('hex'), alice.certSha256);
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.identity === alice.identity);
  assert.equal(line.outcome, 'closed');
  assert.equal(line.upstream, 'backend');
  assert.ok(Number(line.bytesIn) > 0);
});

test('a client without a certificate is refused and nothing reaches the backend', async () => {
  const before = backend.output().length;
  const r = await runCommand('openssl', [
    's_client', '-connect', `127.0.0.1:${proxy.port}`, '-servername', 'localhost', '-CAfile', `${pki.dir}/edge-ca.crt`, '-quiet', '-no_ign_eof',
  ], { input: 'anonymous bytes\n', timeoutMs: 8000 });
  assert.notEqual(r.stdout.includes('anonymous bytes'), true);
  const line = await proxy.waitForLog((l) => l.msg === 'client refused' && l.reason === 'no certificate');
  assert.equal(line.outcome, 'refused');
  assert.doesNotMatch(backend.output().slice(before), /anonymous bytes/);
});
