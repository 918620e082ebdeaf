/**
 * Real nginx, configured as the KES guide configures it, in front of a
 * capturing HTTPS backend; real curl as the client. What nginx puts in
 * X-Tls-Client-Cert must be exactly what countersign's `kes` encoder produces
 * for the same certificate — for certificates whose subjects, key types and
 * SANs differ, so that the bytes being escaped differ too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { encodeIdentityHeaders } from '../../src/forward/identity-headers.js';
import { certificatesDer } from '../../src/pki/index.js';
import {
  curl, interopPki, kesGuideServerBlock, opensslClientCertificate, startCapturingBackend, startNginx,
  type CapturingBackend, type InteropPki, type RunningNginx,
} from '../helpers/nginx.js';

let pki: InteropPki;
let backend: CapturingBackend;
let nginxOn: RunningNginx;
let nginxNoCa: RunningNginx;

before(async () => {
  pki = await interopPki();
  // the backend insists on the proxy's client certificate, as KES does
  backend = await startCapturingBackend({ certPem: pki.pki.backend.certPem, keyPem: pki.pki.backend.keyPem, ca: pki.pki.backendCa.certPem });
  nginxOn = await startNginx({ files: pki.nginxFiles, http: (ctx) => kesGuideServerBlock(ctx, { backendPort: backend.port, verifyClient: 'on' }) });
  nginxNoCa = await startNginx({ files: pki.nginxFiles, http: (ctx) => kesGuideServerBlock(ctx, { backendPort: backend.port, verifyClient: 'optional_no_ca' }) });
});

after(async () => {
  await nginxOn?.stop();
  await nginxNoCa?.stop();
  await backend?.close();
  await pki?.cleanup();
});

/** One request through nginx with curl; returns what the backend received. */
async function through(nginx: RunningNginx, args: string[], path = '/v1/status') {
  const before = backend.requests.length;
  const r = await curl(nginx.url + path, ['--cacert', pki.file('edge-ca.crt'), ...args]);
  assert.equal(r.status, 200, `curl: exit ${r.exitCode} ${r.stderr}\nnginx: ${await nginx.errorLog()}`);
  assert.equal(backend.requests.length, before + 1);
  return backend.requests[backend.requests.length - 1];
}

async function expectSameAsNginx(nginx: RunningNginx, cert: { certPath: string; keyPath: string }): Promise<string> {
  const seen = await through(nginx, ['--cert', cert.certPath, '--key', cert.keyPath]);
  const der = certificatesDer(await readFile(cert.certPath))[0];
  const ours = encodeIdentityHeaders('kes', { der })['X-Tls-Client-Cert'];
  assert.equal(seen.headers['x-tls-client-cert'], ours);
  // and nginx authenticated itself to the backend with its proxy certificate
  assert.deepEqual(seen.peerCertDer, pki.pki.proxyClient.cert.raw);
  return ours;
}

/**
 * Base64 padding ("=" → %3D) appears only when the DER length is not a multiple
 * of 3; random keys vary the length, so draw until this one has padding.
 */
async function unicodeWithPadding(): Promise<{ certPath: string; keyPath: string }> {
  const clientCa = { certPath: pki.file('client-ca.crt'), keyPath: pki.file('client-ca.key') };
  for (let i = 0; ; i++) {
    const c = await opensslClientCertificate({ dir: pki.dir, name: `unicode-${i}`, issuer: clientCa, subject: '/CN=日本語 テスト/O=Ünïcødé=yes' });
    if (certificatesDer(await readFile(c.certPath))[0].length % 3 !== 0 || i === 20) return c;
  }
}

test('ssl_verify_client on: X-Tls-Client-Cert is byte-identical to the kes encoder for three different client certificates', async () => {
  const clientCa = { certPath: pki.file('client-ca.crt'), keyPath: pki.file('client-ca.key') };
  const certs = [
    // the dev PKI's alice: EC P-256, plain ASCII subject
    { certPath: pki.file('alice.crt'), keyPath: pki.file('alice.key') },
    // RSA (a longer base64 body, more "+" and "/"), spaces, "+", "=", quotes and a multi-valued RDN
    await opensslClientCertificate({
      dir: pki.dir, name: 'odd-rsa', key: 'rsa-2048', issuer: clientCa,
      subject: '/C=DE/O=Müller \\+ Söhne, "GmbH"/OU=a=b+OU=team one/CN=alice smith',
      extensions: ['subjectAltName=DNS:alice.example.com,URI:spiffe://example.org/ns/a/sa/alice'],
    }),
    // UTF-8 in the subject (nginx forwards the certificate bytes, whatever the subject says)
    await unicodeWithPadding(),
  ];
  const values = new Set<string>();
  for (const c of certs) values.add(await expectSameAsNginx(nginxOn, c));
  assert.equal(values.size, 3, 'three certificates, three different header values');
  const all = [...values].join('');
  for (const esc of ['%2B', '%2F', '%3D', '%20', '%0A']) assert.ok(all.includes(esc), `the certificates exercised ${esc}`);
});

test('ssl_verify_client optional_no_ca: a self-signed client certificate (kes identity new style) is forwarded the same way', async () => {
  const self = await opensslClientCertificate({ dir: pki.dir, name: 'self-signed', subject: '/CN=my-app' });
  const value = await expectSameAsNginx(nginxNoCa, self);
  const decoded = new X509Certificate(decodeURIComponent(value));
  assert.equal(decoded.subject, 'CN=my-app');
  assert.equal(decoded.issuer, 'CN=my-app');
});

test('optional_no_ca without a client certificate: nginx sends no X-Tls-Client-Cert at all', async () => {
  const seen = await through(nginxNoCa, []);
  assert.equal(seen.headers['x-tls-client-cert'], undefined);
});

test('nginx replaces a client-sent X-Tls-Client-Cert (even when it has no certificate to put there)', async () => {
  const forged = encodeIdentityHeaders('kes', { der: pki.pki.clients.root.cert.raw })['X-Tls-Client-Cert'];
  const withCert = await through(nginxOn, ['--cert', pki.file('alice.crt'), '--key', pki.file('alice.key'), '-H', `X-Tls-Client-Cert: ${forged}`]);
  assert.equal(withCert.headers['x-tls-client-cert'], encodeIdentityHeaders('kes', { der: pki.pki.clients.alice.cert.raw })['X-Tls-Client-Cert']);
  const anonymous = await through(nginxNoCa, ['-H', `X-Tls-Client-Cert: ${forged}`]);
  assert.equal(anonymous.headers['x-tls-client-cert'], undefined);
});

test('nginx passes other identity header families through from the client (countersign strips them)', async () => {
  // Recorded so docs/replacing-nginx-for-kes.md can say it: only the header named in
  // proxy_set_header is overwritten; a backend reading Client-Cert or XFCC behind
  // this nginx would believe the client.
  const seen = await through(nginxOn, [
    '--cert', pki.file('alice.crt'), '--key', pki.file('alice.key'),
    '-H', 'Client-Cert: :AAAA:', '-H', 'X-Forwarded-Client-Cert: Hash=00',
  ]);
  assert.equal(seen.headers['client-cert'], ':AAAA:');
  assert.equal(seen.headers['x-forwarded-client-cert'], 'Hash=00');
});
