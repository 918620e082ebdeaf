/**
 * Http mode, delegated identity, in front of `openssl s_server -www` requiring a
 * client certificate: an HTTP/1.1 and an HTTP/2 client both get the page, and
 * the client certificate the backend saw (it prints it in the page) is the
 * minted one, carrying alice's identity.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startOpensslServer, type OpensslServer } from '../helpers/openssl-server.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { identityOfFile } from '../helpers/e2e.js';
import { parseCertificateFields, findExtension, identityOf } from '../../src/pki/index.js';
import { DELEGATION_OID, decodeDelegationExtension } from '../../src/delegation/index.js';

let pki: TestPki;
let backend: OpensslServer;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startOpensslServer({ cert: `${pki.dir}/backend.crt`, key: `${pki.dir}/backend.key`, caFile: `${pki.dir}/delegation-ca.crt`, extraArgs: ['-www'] });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'http' })));
});
after(async () => { await proxy?.stop(); await backend?.stop(); });

for (const version of ['--http1.1', '--http2']) {
  test(`curl ${version} as alice gets the s_server page; the backend saw a minted certificate for alice`, async () => {
    const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/`, [version]));
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /TLSv1\.3/, 'upstream leg is TLS 1.3');
    const pem = r.body.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/);
    assert.ok(pem, 's_server printed the client certificate it verified');
    const minted = new X509Certificate(pem[0]);
    assert.match(minted.subject, /CN=alice/);
    assert.match(minted.issuer, /delegation CA/);
    const alice = identityOfFile(pki.dir, 'alice');
    assert.notEqual(identityOf(minted.raw), alice, 'the backend never sees the client key');
    const ext = findExtension(parseCertificateFields(minted.raw), DELEGATION_OID);
    assert.ok(ext);
    assert.equal(decodeDelegationExtension(ext.value).spkiSha256.toString('hex'), alice);
    const line = await proxy.waitForLog((l) => l.msg === 'request' && l.identity === alice && l.status === 200);
    assert.equal(line.upstream, 'backend');
  });
}
