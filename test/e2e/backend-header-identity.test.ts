/**
 * Header mode over real TLS: a trusted proxy (pinned by identity) forwards the
 * client certificate in X-Tls-Client-Cert, Client-Cert or
 * X-Forwarded-Client-Cert; anyone else's identity header is ignored and
 * reported; a malformed header from the trusted proxy is a 400.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { countersignHandler, createIdentifier, type GuardOptions, type ResolvedIdentity } from 'countersign/backend';
import { identityOf, sha256 } from '../../src/pki/certificate-info.js';
import { issueCertificate } from '../../src/pki/dev/issue-certificate.js';
import { backendTestPki, close, get, listen, type BackendTestPki } from '../helpers/backend-tls.js';

let pki: BackendTestPki;
const servers: Server[] = [];
let lenientPort: number; // allowDirect: true, all three formats
let strictPort: number; // allowDirect: false, kes only
const ignored: Array<{ identity: string; header: string; message: string }> = [];

function start(guard: GuardOptions): Promise<number> {
  const server = createServer(
    { key: pki.server.keyPem, cert: pki.server.certPem, ca: pki.serverTrust, requestCert: true, rejectUnauthorized: false },
    countersignHandler(guard)((req, res) => {
      const { certificate, ...rest } = req.countersign as ResolvedIdentity;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...rest, certificateSha256: certificate && sha256(certificate).toString('hex') }));
    }),
  );
  servers.push(server);
  return listen(server);
}

before(async () => {
  pki = await backendTestPki();
  const trustedProxies = [identityOf(pki.proxy.cert.raw)];
  lenientPort = await start({
    identifier: createIdentifier({ delegationCAs: pki.delegationCa.certPem, trustedProxies, allowDirect: true, header: ['kes', 'rfc9440', 'xfcc'] }),
    onHeaderIgnored: (e) => ignored.push(e),
  });
  strictPort = await start({ identifier: createIdentifier({ delegationCAs: pki.delegationCa.certPem, trustedProxies }) });
});

after(async () => {
  for (const s of servers) await close(s);
  pki.minter.stop();
});

const kes = (pem: string) => ({ 'X-Tls-Client-Cert': encodeURIComponent(pem) });
const send = (port: number, who: { certPem: string; keyPem: string }, headers: Record<string, string | string[]>) =>
  get({ port, ca: pki.serverCa.certPem, cert: who.certPem, key: who.keyPem, headers });

test('kes: the trusted proxy forwards alice; identity is alice, via header, proxy named', async () => {
  const res = await send(strictPort, pki.proxy, kes(pki.alice.certPem));
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.via, 'header');
  assert.equal(res.body.identity, identityOf(pki.alice.cert.raw));
  assert.equal(res.body.subject, 'CN=alice, O=Example');
  assert.equal(res.body.namesVouched, false, 'the library cannot tell whether the proxy checked the certificate against a CA');
  assert.equal(res.body.certificateSha256, sha256(pki.alice.cert.raw).toString('hex'));
  assert.deepEqual(res.body.proxy, { identity: identityOf(pki.proxy.cert.raw), subject: 'CN=header proxy', certSha256: sha256(pki.proxy.cert.raw).toString('hex') });
});

test('rfc9440: Client-Cert from the trusted proxy', async () => {
  const res = await send(lenientPort, pki.proxy, { 'Client-Cert': `:${Buffer.from(pki.alice.cert.raw).toString('base64')}:` });
  assert.equal(res.status, 200);
  assert.equal(res.body.via, 'header');
  assert.equal(res.body.identity, identityOf(pki.alice.cert.raw));
});

test('xfcc: the last element (the one the proxy appended) wins over one a client injected', async () => {
  const element = (c: { certPem: string; cert: { raw: Uint8Array } }) => `Hash=${sha256(c.cert.raw).toString('hex')};Cert="${encodeURIComponent(c.certPem)}"`;
  const res = await send(lenientPort, pki.proxy, { 'X-Forwarded-Client-Cert': `${element(pki.bob)},${element(pki.alice)}` });
  assert.equal(res.status, 200);
  assert.equal(res.body.identity, identityOf(pki.alice.cert.raw));
});

test('an untrusted peer sending an identity header: the header is ignored and reported, the peer is itself', async () => {
  ignored.length = 0;
  const res = await send(lenientPort, pki.bob, kes(pki.alice.certPem));
  assert.equal(res.status, 200);
  assert.equal(res.body.via, 'direct');
  assert.equal(res.body.identity, identityOf(pki.bob.cert.raw));
  assert.equal(res.body.namesVouched, true, 'this server\'s TLS trust verified bob\'s chain');
  assert.equal(res.body.headerIgnored.code, 'ERR_HEADER_UNTRUSTED');
  assert.match(res.body.headerIgnored.message, /x-tls-client-cert ignored: peer [0-9a-f]{64} \("CN=bob, O=Example"\) is not in trustedProxies/);
  assert.equal(ignored.length, 1);
  assert.equal(ignored[0].identity, identityOf(pki.bob.cert.raw));
});

test('an untrusted peer when direct clients are not allowed: 401, and the message says the header was ignored', async () => {
  const res = await send(strictPort, pki.bob, kes(pki.alice.certPem));
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'ERR_DIRECT_NOT_ALLOWED');
  assert.match(res.body.message, /identity header x-tls-client-cert ignored/);
});

test('a delegated connection keeps its delegated identity; a header on it is ignored', async () => {
  const res = await send(strictPort, pki.mintedAlice, kes(pki.bob.certPem));
  assert.equal(res.status, 200);
  assert.equal(res.body.via, 'delegated');
  assert.equal(res.body.identity, identityOf(pki.alice.cert.raw));
  assert.equal(res.body.namesVouched, true, 'minted for names a client CA vouched for');
  assert.match(res.body.headerIgnored.message, /delegated identity/);
});

test('a malformed header from the trusted proxy is a 400 that says what is wrong', async () => {
  const res = await send(strictPort, pki.proxy, { 'X-Tls-Client-Cert': '-----BEGIN%20CERTIFICATE-----%0A%ZZ' });
  assert.equal(res.status, 400);
  assert.equal(res.body.code, 'ERR_HEADER_MALFORMED');
  assert.match(res.body.message, /x-tls-client-cert: bad percent-encoding; expected URL-escaped PEM/);
});

test('a header holding something that is not a certificate is a 400', async () => {
  const res = await send(strictPort, pki.proxy, { 'X-Tls-Client-Cert': encodeURIComponent('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n') });
  assert.equal(res.status, 400);
  assert.match(res.body.message, /not a certificate/);
});

test('the trusted proxy without any identity header is a 400, never the proxy acting as itself', async () => {
  const res = await send(strictPort, pki.proxy, {});
  assert.equal(res.status, 400);
  assert.match(res.body.message, /carries no x-tls-client-cert header; the proxy must forward the client certificate/);
  const lenient = await send(lenientPort, pki.proxy, {});
  assert.equal(lenient.status, 400, 'even where direct clients are allowed');
});

test('two different identity headers from the trusted proxy are ambiguous: 400', async () => {
  const res = await send(lenientPort, pki.proxy, { ...kes(pki.alice.certPem), 'Client-Cert': `:${Buffer.from(pki.bob.cert.raw).toString('base64')}:` });
  assert.equal(res.status, 400);
  assert.match(res.body.message, /exactly one identity header/);
});

test('an expired certificate in the header is refused: 401 ERR_CERT_EXPIRED', async () => {
  const expired = await issueCertificate({ subject: 'CN=old', issuer: pki.clientCa, notBefore: new Date(Date.now() - 2 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
  const res = await send(strictPort, pki.proxy, kes(expired.certPem));
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'ERR_CERT_EXPIRED');
});
