/**
 * The client trust's own path building and CRL lookups (what a resumed
 * session and the re-check of an open connection rely on): issuers are
 * followed by signature, not by name; every certificate of the path is looked
 * up in its issuer's CRL; a configured root is not.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/index.js';
import { buildClientTrust, peerChainDer, sentIntermediates, type ClientPath, type ClientTrust } from '../../src/edge/client-trust.js';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { parseCrl } from '../../src/edge/revocation/index.js';
import { SeenIntermediates } from '../../src/edge/seen-intermediates.js';
import { pemBlocks } from '../../src/pki/index.js';
import { crlPem } from '../helpers/crl.js';

let root: IssuedCertificate;
let inter: IssuedCertificate;
let leaf: IssuedCertificate;
let impostor: IssuedCertificate; // same name as the intermediate, another key

const parsed = async (pem: Promise<string>) => parseCrl(pemBlocks(Buffer.from(await pem))[0].der, 'test.crl');
const trustWith = async (crls: Promise<string>[]): Promise<ClientTrust> =>
  buildClientTrust({ digest: String(Math.random()), crls: await Promise.all(crls.map(parsed)), caPems: [root.certPem] });
const revoked = (trust: ClientTrust, path: ClientPath) => {
  const r = trust.revocationOf(path, { now: Date.now(), graceMs: 0 });
  return r?.status === 'revoked' ? r.cert : r;
};
const only = (...certs: X509Certificate[]) => () => certs;

before(async () => {
  root = await issueCertificate({ subject: 'CN=test root', ca: true });
  inter = await issueCertificate({ subject: 'CN=test intermediate', ca: true, issuer: root });
  leaf = await issueCertificate({ subject: 'CN=leaf', issuer: inter });
  const otherRoot = await issueCertificate({ subject: 'CN=other root', ca: true });
  impostor = await issueCertificate({ subject: 'CN=test intermediate', ca: true, issuer: otherRoot });
});

test('the path runs from the leaf through the intermediate to the configured root', async () => {
  const trust = await trustWith([]);
  const path = trust.pathOf(leaf.cert, only(inter.cert));
  assert.deepEqual(path?.map((p) => p.subject), ['CN=leaf', 'CN=test intermediate', 'CN=test root']);
});

test('an intermediate with the right name but another key is not taken as the issuer', async () => {
  const trust = await trustWith([]);
  assert.equal(trust.pathOf(leaf.cert, only(impostor.cert)), undefined);
  assert.equal(trust.pathOf(leaf.cert, only(impostor.cert, inter.cert))?.length, 3);
});

test('without its intermediate a leaf has no path', async () => {
  assert.equal((await trustWith([])).pathOf(leaf.cert, only()), undefined);
});

test('a revoked intermediate is found by the root\'s CRL; a revoked leaf by the intermediate\'s', async () => {
  const path = (await trustWith([])).pathOf(leaf.cert, only(inter.cert))!;
  assert.equal(revoked(await trustWith([crlPem(root), crlPem(inter)]), path), undefined);
  const interRevoked = await trustWith([crlPem(root, [inter]), crlPem(inter)]);
  assert.equal((revoked(interRevoked, interRevoked.pathOf(leaf.cert, only(inter.cert))!) as { subject: string } | undefined)?.subject, 'CN=test intermediate');
  const leafRevoked = await trustWith([crlPem(root), crlPem(inter, [leaf])]);
  assert.equal((revoked(leafRevoked, leafRevoked.pathOf(leaf.cert, only(inter.cert))!) as { subject: string } | undefined)?.subject, 'CN=leaf');
});

test('a CRL naming the root\'s own serial does not revoke the configured root', async () => {
  const trust = await trustWith([crlPem(root, [root]), crlPem(inter)]);
  assert.equal(trust.revocationOf(trust.pathOf(leaf.cert, only(inter.cert))!, { now: Date.now(), graceMs: 0 }), undefined);
});

test('seen intermediates are found by the issuer name a certificate carries, and bounded', async () => {
  const trust = await trustWith([]);
  const seen = new SeenIntermediates(1);
  seen.remember(trust.pathOf(leaf.cert, only(inter.cert))!); // intermediate and root: the bound keeps one
  assert.equal(seen.size, 1);
  const fresh = new SeenIntermediates();
  fresh.remember(trust.pathOf(leaf.cert, only(inter.cert))!);
  assert.equal(trust.pathOf(leaf.cert, fresh.named)?.length, 3);
});

test('a CRL signed by another key than its issuer\'s is not used: the status is unavailable, not good', async () => {
  const forged = await issueCertificate({ subject: 'CN=test intermediate', ca: true }); // the intermediate's name, another key
  const trust = await trustWith([crlPem(root), crlPem(forged)]);
  const r = trust.revocationOf(trust.pathOf(leaf.cert, only(inter.cert))!, { now: Date.now(), graceMs: 0 });
  assert.equal(r?.status, 'unavailable');
  assert.match((r as { why: string }).why, /does not verify/);
});

test('a CRL past its nextUpdate is used during the grace, then the status is unavailable; a revoked serial stays revoked', async () => {
  const nextUpdate = new Date(Date.now() - 60_000);
  const trust = await trustWith([crlPem(root, [], { nextUpdate, thisUpdate: new Date(Date.now() - 120_000) }), crlPem(inter, [], { nextUpdate, thisUpdate: new Date(Date.now() - 120_000) })]);
  const path = trust.pathOf(leaf.cert, only(inter.cert))!;
  assert.equal(trust.revocationOf(path, { now: Date.now(), graceMs: 3600_000 }), undefined);
  assert.equal(trust.revocationOf(path, { now: Date.now(), graceMs: 0 })?.status, 'unavailable');
  const stale = await trustWith([crlPem(root, [inter], { nextUpdate, thisUpdate: new Date(Date.now() - 120_000) }), crlPem(inter)]);
  assert.equal(stale.revocationOf(path, { now: Date.now(), graceMs: 0 })?.status, 'revoked');
});

test('the intermediates a client sent are read from its leaf, in order, without the CA from the trust store; none when it sent its leaf alone', async () => {
  const server = await issueCertificate({ subject: 'CN=server', dnsNames: ['localhost'], usage: 'server', issuer: root });
  const inter2 = await issueCertificate({ subject: 'CN=test intermediate 2', ca: true, issuer: inter });
  const deep = await issueCertificate({ subject: 'CN=deep leaf', issuer: inter2, usage: 'client' });
  const direct = await issueCertificate({ subject: 'CN=direct leaf', issuer: root, usage: 'client' });
  const sentBy = async (certPem: string, keyPem: string): Promise<{ sent: string[]; detailed: string[] }> => {
    const srv = createServer({ cert: server.certPem, key: server.keyPem, ca: root.certPem, requestCert: true, rejectUnauthorized: true });
    const seen = new Promise<{ sent: string[]; detailed: string[] }>((resolve) => srv.once('secureConnection', (s: TLSSocket) => {
      const leafX509 = s.getPeerX509Certificate()!;
      resolve({ sent: sentIntermediates(leafX509).map((c) => c.subject), detailed: peerChainDer(s).map((d) => new X509Certificate(d).subject) });
      s.end();
    }));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const client = connect({ host: '127.0.0.1', port: (srv.address() as AddressInfo).port, cert: certPem, key: keyPem, ca: server.certPem, servername: 'localhost', rejectUnauthorized: false });
    client.on('error', () => {});
    client.resume();
    try { return await seen; } finally { client.destroy(); srv.close(); }
  };
  const chain = await sentBy(deep.certPem + inter2.certPem + inter.certPem, deep.keyPem);
  assert.deepEqual(chain.sent, ['CN=test intermediate 2', 'CN=test intermediate']);
  // getPeerCertificate(true) adds the root from the trust store; what the client sent is the same otherwise
  assert.deepEqual(chain.detailed, ['CN=test intermediate 2', 'CN=test intermediate', 'CN=test root']);
  const alone = await sentBy(direct.certPem, direct.keyPem);
  assert.deepEqual(alone.sent, []);
});
