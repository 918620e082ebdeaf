/**
 * The edge's admission, in-process over real TLS on loopback and without
 * forward: the verdict, identity and chain of a connection decided once; a
 * connection-mode rule refusing with its name; and the edge's own
 * re-verification of what it admitted — a CRL that revokes a client, or a
 * deny list added by a reload, closes exactly that client's connection after
 * telling the caller why.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { Admission, ClientVerifier, PARSED_CERTIFICATE_BYTES, createCertificateStore, type AdmittedConnection, type AdmissionPolicy, type CertificateStore } from '../../src/edge/index.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/index.js';
import { crlPem } from '../helpers/crl.js';
import { atomicWrite, makeTempDir, writePair } from '../helpers/edge-tls.js';
import { listen } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';
import { nativeGarbagePending } from '../../src/native-garbage.js';

describe('edge admission', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ca: IssuedCertificate;
  let stranger: IssuedCertificate;
  let alice: IssuedCertificate;
  let bob: IssuedCertificate;
  let blocked: IssuedCertificate;
  let store: CertificateStore;
  let server: TlsServer;
  let port: number;
  let policy: AdmissionPolicy;
  const admitted: AdmittedConnection[] = [];
  const revoked: { id: number; reason: string }[] = [];
  let admission: Admission;

  const verifier = (deny: string[] = []) => new ClientVerifier({ mode: 'require', deny, maxChainDepth: 4, trust: () => store.clientTrust() });

  /** a client's connection as the edge took it, and the client's side of it */
  async function connectAs(who: IssuedCertificate): Promise<{ conn: AdmittedConnection; client: TLSSocket }> {
    const before = admitted.length;
    const client = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'svc.test', rejectUnauthorized: false, cert: who.certPem, key: who.keyPem }, () => resolve(s));
      s.once('error', reject);
    });
    client.on('error', () => {});
    const conn = await waitFor(() => admitted[before], 'the admission');
    return { conn, client };
  }
  const closed = (s: TLSSocket) => new Promise<void>((resolve) => { if (s.destroyed) resolve(); else s.once('close', () => resolve()); });

  before(async () => {
    ({ dir, cleanup } = await makeTempDir());
    ca = await issueCertificate({ subject: 'CN=client CA', ca: true });
    const otherCa = await issueCertificate({ subject: 'CN=other CA', ca: true });
    alice = await issueCertificate({ subject: 'CN=alice', issuer: ca });
    bob = await issueCertificate({ subject: 'CN=bob', issuer: ca });
    blocked = await issueCertificate({ subject: 'CN=blocked', issuer: ca });
    stranger = await issueCertificate({ subject: 'CN=stranger', issuer: otherCa });
    const serverCert = await issueCertificate({ subject: 'CN=svc.test', issuer: ca, usage: 'server', dnsNames: ['svc.test'] });
    await atomicWrite(join(dir, 'ca.pem'), ca.certPem);
    await atomicWrite(join(dir, 'ca.crl'), await crlPem(ca, []));
    store = await createCertificateStore({
      certificates: [await writePair(dir, 'svc', serverCert)],
      trustFiles: { ca: [join(dir, 'ca.pem')], crl: [join(dir, 'ca.crl')] },
      watch: false,
    });
    policy = { verifier: verifier(), connectionRule: (c) => (c.client?.subject === 'CN=blocked' ? 'routes[0].allow' : undefined) };
    admission = new Admission({ policy: () => policy, onRevoked: (c, reason) => revoked.push({ id: c.id, reason }), logger: { info() {} } });
    server = createTlsServer({ ...store.defaultContextOptions(), requestCert: true, rejectUnauthorized: false }, (s) => {
      s.on('error', () => {});
      admission.admit(s, 'main', (conn) => admitted.push(conn));
    });
    port = await listen(server);
  });
  after(async () => {
    for (const c of admitted) c.socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.stop();
    await cleanup();
  });

  it('decides once: the verdict, the identity, the chain; a stranger and a client a rule refuses are refused with their reason', async () => {
    const a = await connectAs(alice);
    assert.equal(a.conn.verdict.ok, true);
    assert.equal(a.conn.client?.subject, 'CN=alice');
    assert.equal(a.conn.listener, 'main');
    assert.equal(a.conn.sni, 'svc.test');
    assert.equal(a.conn.peer.address, '127.0.0.1');
    assert.equal(a.conn.chain(), a.conn.chain(), 'read once, on first use');
    assert.equal(admission.size, 1, 'admitted and kept for its re-verification');

    const s = await connectAs(stranger);
    assert.equal(s.conn.verdict.ok, false);
    assert.equal(!s.conn.verdict.ok && s.conn.verdict.reason, 'unknown CA');
    const b = await connectAs(blocked);
    assert.equal(!b.conn.verdict.ok && b.conn.verdict.reason, 'not allowed');
    assert.equal(b.conn.rule, 'routes[0].allow');
    assert.equal(admission.size, 1, 'a refused connection is not kept');
    for (const c of [a, s, b]) { c.client.destroy(); c.conn.socket.destroy(); }
    await waitFor(() => admission.size === 0, 'closed connections forgotten');
  });

  it('re-verifies what it admitted: a CRL that revokes alice closes her connection only, after telling why', async () => {
    const a = await connectAs(alice);
    const b = await connectAs(bob);
    await atomicWrite(join(dir, 'ca.crl'), await crlPem(ca, [alice], { revocationDate: new Date(Date.now() - 30_000) }));
    assert.deepEqual((await store.reload()).reloaded, ['trust']);
    admission.recheck(store.clientTrust());
    assert.deepEqual(revoked, [{ id: a.conn.id, reason: 'revoked' }]);
    assert.equal(a.conn.revoked, 'revoked');
    await closed(a.client);
    assert.equal(b.conn.socket.destroyed, false, 'bob stays');
    b.client.destroy();
    await atomicWrite(join(dir, 'ca.crl'), await crlPem(ca, []));
    await store.reload();
  });

  it('a reload that puts bob on the deny list, or narrows a rule, closes his open connection', async () => {
    revoked.length = 0;
    const b = await connectAs(bob);
    const a = await connectAs(alice);
    policy = { verifier: verifier([b.conn.client!.identity]), connectionRule: () => undefined };
    admission.recheck(store.clientTrust());
    assert.deepEqual(revoked, [{ id: b.conn.id, reason: 'denied identity' }]);
    await closed(b.client);
    policy = { verifier: verifier(), connectionRule: (c) => (c.client?.subject === 'CN=alice' ? 'routes[0].allow' : undefined) };
    admission.recheck(store.clientTrust());
    assert.deepEqual(revoked.map((r) => r.reason), ['denied identity', 'not allowed']);
    await closed(a.client);
  });

  it('a parsed certificate the verifier caches is no native garbage until the cache evicts it', async () => {
    const kept = policy;
    policy = { verifier: new ClientVerifier({ mode: 'require', maxChainDepth: 4, trust: () => store.clientTrust(), cacheSize: 1 }), connectionRule: () => undefined };
    try {
      const pending = nativeGarbagePending();
      const a = await connectAs(alice);
      const again = await connectAs(alice);
      assert.equal(nativeGarbagePending(), pending, 'parsed once, kept: nothing let go of');
      const b = await connectAs(bob);
      assert.equal(nativeGarbagePending(), pending + PARSED_CERTIFICATE_BYTES, "bob's entry evicted alice's");
      for (const c of [a, again, b]) { c.client.destroy(); c.conn.socket.destroy(); }
      await waitFor(() => admission.size === 0, 'closed connections forgotten');
    } finally { policy = kept; }
  });
});
