/**
 * A node:https backend using countersign/backend (imported by its package
 * name, as a backend would) behind real TLS on loopback: a certificate minted
 * by the delegation CA is unwrapped to alice; a certificate carrying the same
 * extension from any other CA the TLS server trusts is refused.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { connect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import {
  countersignHandler, createIdentifier, createPolicyEngine, isCountersignError,
  type RefusalEvent, type ResolvedIdentity,
} from 'countersign/backend';
import { describeCertificate, identityOf } from '../../src/pki/certificate-info.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/issue-certificate.js';
import { DelegationMinter } from '../../src/delegation/delegation-minter.js';
import { DEFAULT_DELEGATION_LIMITS } from '../../src/config/index.js';
import { backendTestPki, close, forgedDelegation, get, listen, type BackendTestPki } from '../helpers/backend-tls.js';

let pki: BackendTestPki;
let server: Server;
let port: number;
const refusals: RefusalEvent[] = [];
let forgedByOtherCa: IssuedCertificate;
let forgedBySameNameCa: IssuedCertificate;
let noExtension: IssuedCertificate;
let unknownCaClient: IssuedCertificate;

const echo = (id: ResolvedIdentity & { policy?: string }) => {
  const { certificate, ...rest } = id;
  return { ...rest, hasCertificate: certificate !== undefined };
};

before(async () => {
  pki = await backendTestPki();
  forgedByOtherCa = await forgedDelegation(pki.alice, pki.forgerCa);
  // same subject as the real delegation CA, different key: names are free to copy
  const impostorCa = await issueCertificate({ subject: pki.delegationCa.cert.subject.split('\n').join(', '), ca: true });
  forgedBySameNameCa = await forgedDelegation(pki.alice, impostorCa);
  noExtension = await issueCertificate({ subject: 'CN=plain leaf of the delegation CA', issuer: pki.delegationCa });
  const unknownCa = await issueCertificate({ subject: 'CN=unknown CA', ca: true });
  unknownCaClient = await issueCertificate({ subject: 'CN=stranger', issuer: unknownCa });

  const identifier = createIdentifier({ delegationCAs: pki.delegationCa.certPem });
  const policy = createPolicyEngine({
    policies: { 'my-app': { allow: ['/v1/key/create/my-app-*', '/whoami'], identities: [identityOf(pki.alice.cert.raw)] } },
  });
  server = createServer(
    { key: pki.server.keyPem, cert: pki.server.certPem, ca: [...pki.serverTrust, impostorCa.certPem], requestCert: true, rejectUnauthorized: false },
    countersignHandler({ identifier, policy, onRefused: (e) => refusals.push(e) })((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(echo(req.countersign)));
    }),
  );
  port = await listen(server);
});

after(async () => {
  await close(server);
  pki.minter.stop();
});

const as = (c: { certPem: string; keyPem: string } | undefined, path = '/whoami') =>
  get({ port, ca: pki.serverCa.certPem, cert: c?.certPem, key: c?.keyPem, path });

test('a certificate minted for alice resolves to alice via "delegated"', async () => {
  const res = await as(pki.mintedAlice);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const alice = describeCertificate(pki.alice.cert.raw);
  assert.equal(res.body.via, 'delegated');
  assert.equal(res.body.identity, identityOf(pki.alice.cert.raw));
  assert.notEqual(res.body.identity, identityOf(describeCertificate(Buffer.from(pki.mintedAlice.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')).der), 'not the minted key');
  assert.equal(res.body.certSha256, alice.certSha256);
  assert.equal(res.body.certSha1, alice.certSha1);
  assert.equal(res.body.subject, 'CN=alice, O=Example');
  assert.equal(res.body.issuer, 'CN=test client CA');
  assert.equal(res.body.serial, alice.serial);
  assert.equal(res.body.notAfter, alice.notAfter.toISOString());
  assert.equal(res.body.proxy.identity, identityOf(pki.delegationCa.cert.raw), 'the delegation CA vouched');
  assert.equal(res.body.policy, 'my-app');
  assert.equal(res.body.hasCertificate, false, 'the minter did not embed the original');
});

test('a forged extension from another CA the TLS server trusts is refused: 401 ERR_DELEGATION_UNTRUSTED_ISSUER', async () => {
  const res = await as(forgedByOtherCa);
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'ERR_DELEGATION_UNTRUSTED_ISSUER');
  assert.match(res.body.message, /not signed by a trusted delegation CA/);
  assert.match(String(res.headers['content-type']), /^application\/json/);
});

test('a forged extension from a CA that copies the delegation CA\'s name is refused too (pinned by key)', async () => {
  const res = await as(forgedBySameNameCa);
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'ERR_DELEGATION_UNTRUSTED_ISSUER');
});

test('alice connecting directly is refused when direct clients are not allowed', async () => {
  const res = await as(pki.alice);
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'ERR_DIRECT_NOT_ALLOWED');
  assert.match(res.body.message, /connect through countersign, or set allowDirect: true/);
});

test('a certificate from the delegation CA without the extension: ERR_DELEGATION_MISSING', async () => {
  const res = await as(noExtension);
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'ERR_DELEGATION_MISSING');
});

test('no client certificate: ERR_NO_PEER_CERTIFICATE', async () => {
  const res = await as(undefined);
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'ERR_NO_PEER_CERTIFICATE');
});

test('a certificate the TLS server could not verify: ERR_PEER_UNAUTHORIZED', async () => {
  const res = await as(unknownCaClient);
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'ERR_PEER_UNAUTHORIZED');
  assert.match(res.body.message, /"CN=stranger" did not verify against the server's trust store \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
});

test('the policy refuses what it does not allow: 403 "prohibited by policy", reason to the log', async () => {
  refusals.length = 0;
  const res = await as(pki.mintedAlice, '/v1/key/delete/my-app-1');
  assert.equal(res.status, 403);
  assert.deepEqual(res.body, { code: 'ERR_POLICY_DENIED', message: 'prohibited by policy' });
  assert.equal(refusals.length, 1);
  assert.equal(refusals[0].reason, 'prohibited by policy');
  assert.equal(refusals[0].identity, identityOf(pki.alice.cert.raw));
  assert.equal(refusals[0].path, '/v1/key/delete/my-app-1');
  const ok = await as(pki.mintedAlice, '/v1/key/create/my-app-1?x=1');
  assert.equal(ok.status, 200);
});

test('an identity without a policy gets the same 403 text; only the log says why', async () => {
  const bobCreds = pki.minter.credentialsFor(describeCertificate(pki.bob.cert.raw), { namesVouched: true });
  refusals.length = 0;
  const res = await as(bobCreds);
  assert.equal(res.status, 403);
  assert.deepEqual(res.body, { code: 'ERR_POLICY_DENIED', message: 'prohibited by policy' });
  assert.equal(refusals[0].reason, 'unknown identity');
});

test('percent-encoded paths are matched decoded, as KES matches r.URL.Path', async () => {
  assert.equal((await as(pki.mintedAlice, '/v1/key/create/my%2Dapp-1')).status, 200);
  assert.equal((await as(pki.mintedAlice, '/v1/key/create/my-app-1%2Fsub')).status, 403, 'an encoded slash is a slash');
});

test('connection level on node:tls: identify(socket) is cached per socket, and embedded originals come through', async () => {
  const embedding = new DelegationMinter({ ...DEFAULT_DELEGATION_LIMITS, ca: pki.delegationMaterial, keyPoolSize: 1, embedOriginal: true });
  const creds = embedding.credentialsFor(describeCertificate(pki.alice.cert.raw), { namesVouched: true });
  const identifier = createIdentifier({ delegationCAs: [pki.delegationCa.cert] });
  const seen: Array<[ResolvedIdentity, ResolvedIdentity]> = [];
  const tlsServer = createTlsServer({ key: pki.server.keyPem, cert: pki.server.certPem, ca: pki.serverTrust, requestCert: true, rejectUnauthorized: true }, (socket: TLSSocket) => {
    seen.push([identifier.identify(socket), identifier.identify(socket)]);
    socket.end('bye');
  });
  const tlsPort = await listen(tlsServer);
  try {
    await new Promise<void>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost', ca: pki.serverCa.certPem, cert: creds.certPem, key: creds.keyPem });
      s.on('error', reject);
      s.on('data', () => undefined);
      s.on('end', () => resolve());
    });
  } finally {
    await close(tlsServer);
    embedding.stop();
  }
  assert.equal(seen.length, 1);
  const [a, b] = seen[0];
  assert.equal(a, b, 'the second call returns the cached object');
  assert.equal(a.via, 'delegated');
  assert.equal(a.identity, identityOf(pki.alice.cert.raw));
  assert.deepEqual(a.certificate, Buffer.from(pki.alice.cert.raw));
});

test('createIdentifier refuses a delegation CA that is not a CA, and a configuration that can identify no one', () => {
  assert.throws(() => createIdentifier({ delegationCAs: pki.alice.certPem }), (e: unknown) => isCountersignError(e, 'ERR_CA_NOT_CA'));
  assert.throws(() => createIdentifier({}), (e: unknown) => isCountersignError(e, 'ERR_CONFIG_INVALID') && /no client could ever be identified/.test(e.message));
  assert.throws(() => createIdentifier({ allowDirect: true, trustedProxies: ['nope'] }), (e: unknown) => isCountersignError(e, 'ERR_CONFIG_INVALID') && /trustedProxies\[0\]/.test(e.message));
});
