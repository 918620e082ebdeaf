/**
 * Hot reload of server certificates and client trust: replaced files reach new
 * handshakes within seconds, broken files are refused while the old state keeps
 * serving, and open connections are never dropped.
 */
import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { createCertificateStore, type CertificateStore, type CertificateStoreEvent } from '../../src/edge/certificate-store.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/issue-certificate.js';
import { crlPem } from '../helpers/crl.js';
import { atomicWrite, echo, fingerprint, handshake, makeTempDir, sleep, startStoreServer, waitFor, writePair, type EdgeTestServer } from '../helpers/edge-tls.js';

const FAST = { pollIntervalMs: 500, debounceMs: 100 };

function events(store: CertificateStore): CertificateStoreEvent[] {
  const seen: CertificateStoreEvent[] = [];
  store.subscribe((e) => seen.push(e));
  return seen;
}

async function served(port: number, servername: string): Promise<string> {
  const h = await handshake({ port, servername });
  h.end();
  return h.peer.fingerprint256;
}

describe('hot reload of certificate files', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ca: IssuedCertificate;
  let v1: IssuedCertificate;
  let store: CertificateStore;
  let srv: EdgeTestServer;
  let seen: CertificateStoreEvent[];
  let current: IssuedCertificate;
  const leaf = (extra: Partial<Parameters<typeof issueCertificate>[0]> = {}) =>
    issueCertificate({ subject: 'CN=svc.test', issuer: ca, usage: 'server', dnsNames: ['svc.test'], ...extra });

  before(async () => { ca = await issueCertificate({ subject: 'CN=reload CA', ca: true }); });
  // each case its own files, store and server: no case depends on what another left behind
  beforeEach(async () => {
    ({ dir, cleanup } = await makeTempDir());
    v1 = await leaf();
    current = v1;
    store = await createCertificateStore({ certificates: [await writePair(dir, 'svc', v1)], ...FAST });
    seen = events(store);
    srv = await startStoreServer(store);
  });
  afterEach(async () => { await srv.close(); await store.stop(); await cleanup(); });

  it('serves replaced files to new handshakes within seconds while an open connection keeps working', async () => {
    const open = await handshake({ port: srv.port, servername: 'svc.test' });
    assert.equal(open.peer.fingerprint256, fingerprint(v1));
    assert.equal(await echo(open.socket, 'before'), 'before');

    const v2 = await leaf();
    await writePair(dir, 'svc', v2);
    await waitFor(async () => (await served(srv.port, 'svc.test')) === fingerprint(v2), 'the new certificate', 5_000);
    current = v2;

    assert.equal(await echo(open.socket, 'after'), 'after');
    open.end();
    const row = store.list()[0];
    assert.equal(row.certSha256?.toLowerCase(), fingerprint(v2).replace(/:/g, '').toLowerCase());
  });

  for (const [what, code, broken] of [
    ['garbage', 'ERR_PEM_INVALID', async () => ({ certPem: 'this is not PEM', keyPem: current.keyPem })],
    ['a key that does not match', 'ERR_KEY_MISMATCH', async () => ({ certPem: (await leaf()).certPem, keyPem: current.keyPem })],
    ['an expired certificate', 'ERR_CERT_EXPIRED', async () => leaf({ notBefore: new Date(Date.now() - 3 * 86400_000), notAfter: new Date(Date.now() - 86400_000) })],
  ] as const) {
    it(`refuses ${what}, logs why and keeps serving the previous certificate`, async () => {
      const before = seen.length;
      const good = current;
      await writePair(dir, 'svc', await broken());
      const refusal = await waitFor(() => seen.slice(before).find((e) => e.type === 'refused'), 'a refusal', 5_000);
      assert.equal(refusal.type === 'refused' && refusal.code, code);
      assert.equal(await served(srv.port, 'svc.test'), fingerprint(good));
      assert.equal(store.list()[0].lastError?.code, code);
      // the same broken bytes are not retried by the watcher, but reload() retries and reports them
      const result = await store.reload();
      assert.deepEqual(result.failed.map((f) => f.code), [code]);
      assert.equal(await served(srv.port, 'svc.test'), fingerprint(good));
      // put the good pair back: the error clears
      await writePair(dir, 'svc', good);
      await waitFor(() => store.list()[0].lastError === undefined, 'the error to clear', 5_000);
    });
  }

  it('debounces a cert and key written one after the other into one swap, without a refusal', async () => {
    const before = seen.length;
    const v3 = await leaf();
    // not atomic on purpose: for a moment the cert and key do not match
    await writeFile(join(dir, 'svc.crt'), v3.certPem);
    await sleep(20);
    await writeFile(join(dir, 'svc.key'), v3.keyPem);
    await waitFor(async () => (await served(srv.port, 'svc.test')) === fingerprint(v3), 'the new certificate', 5_000);
    current = v3;
    await sleep(300);
    const after = seen.slice(before);
    assert.deepEqual(after.filter((e) => e.type === 'refused'), []);
    assert.equal(after.filter((e) => e.type === 'swapped').length, 1);
  });

  it('reload() reports unchanged files as unchanged and re-reads changed ones', async () => {
    assert.deepEqual(await store.reload(), { reloaded: [], unchanged: [join(dir, 'svc.crt')], failed: [] });
  });
});

describe('hot reload: Kubernetes Secret volume (..data symlink swap)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: CertificateStore;
  let srv: EdgeTestServer;
  let ca: IssuedCertificate;

  // What the kubelet's AtomicWriter does: a timestamped dir, `..data` -> it, and
  // user-visible names that link through `..data`; an update renames a new `..data`.
  async function writeVersion(stamp: string, c: IssuedCertificate): Promise<void> {
    const versionDir = join(dir, `..${stamp}`);
    await mkdir(versionDir);
    await writeFile(join(versionDir, 'tls.crt'), c.certPem);
    await writeFile(join(versionDir, 'tls.key'), c.keyPem, { mode: 0o600 });
    await symlink(`..${stamp}`, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  }

  before(async () => {
    ({ dir, cleanup } = await makeTempDir());
    ca = await issueCertificate({ subject: 'CN=k8s CA', ca: true });
  });
  after(async () => { await srv?.close(); await store?.stop(); await cleanup(); });

  it('picks up an atomic ..data swap under a live connection', async () => {
    const v1 = await issueCertificate({ subject: 'CN=k8s.test', issuer: ca, usage: 'server', dnsNames: ['k8s.test'] });
    await writeVersion('2026_11_23_10_00_00.000000001', v1);
    await symlink('..data/tls.crt', join(dir, 'tls.crt'));
    await symlink('..data/tls.key', join(dir, 'tls.key'));
    store = await createCertificateStore({ certificates: [{ cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') }], ...FAST });
    srv = await startStoreServer(store);
    const open = await handshake({ port: srv.port, servername: 'k8s.test' });
    assert.equal(open.peer.fingerprint256, fingerprint(v1));

    const v2 = await issueCertificate({ subject: 'CN=k8s.test', issuer: ca, usage: 'server', dnsNames: ['k8s.test'] });
    await writeVersion('2026_11_23_10_05_00.000000002', v2);
    await rm(join(dir, '..2026_11_23_10_00_00.000000001'), { recursive: true });
    await waitFor(async () => (await served(srv.port, 'k8s.test')) === fingerprint(v2), 'the swapped certificate', 5_000);
    assert.equal(await echo(open.socket, 'still here'), 'still here');
    open.end();
  });
});

describe('hot reload: the stat poll catches what the directory watch cannot see', () => {
  // The configured path is a symlink into a directory the store does not watch, and
  // the target is rewritten in place: only the poll (which follows symlinks) notices.
  async function setup(pollIntervalMs: number) {
    const t = await makeTempDir();
    const ca = await issueCertificate({ subject: 'CN=poll CA', ca: true });
    const mk = () => issueCertificate({ subject: 'CN=poll.test', issuer: ca, usage: 'server', dnsNames: ['poll.test'] });
    const v1 = await mk();
    await mkdir(join(t.dir, 'live'));
    await mkdir(join(t.dir, 'archive'));
    await writeFile(join(t.dir, 'archive', 'pair.pem'), v1.certPem + v1.keyPem);
    await symlink(join(t.dir, 'archive', 'pair.pem'), join(t.dir, 'live', 'cert.pem'));
    await symlink(join(t.dir, 'archive', 'pair.pem'), join(t.dir, 'live', 'key.pem'));
    const store = await createCertificateStore({
      certificates: [{ cert: join(t.dir, 'live', 'cert.pem'), key: join(t.dir, 'live', 'key.pem') }],
      pollIntervalMs, debounceMs: 50,
    });
    const srv = await startStoreServer(store);
    const v2 = await mk();
    await sleep(50);
    await writeFile(join(t.dir, 'archive', 'pair.pem'), v2.certPem + v2.keyPem); // in place
    return { store, srv, v1, v2, done: async () => { await srv.close(); await store.stop(); await t.cleanup(); } };
  }

  it('reloads within a few poll intervals', async () => {
    const s = await setup(200);
    try {
      await waitFor(async () => (await served(s.srv.port, 'poll.test')) === fingerprint(s.v2), 'the polled change', 4_000);
    } finally { await s.done(); }
  });

  it('does not notice the change with the poll turned off (so the test above measures the poll)', async () => {
    const s = await setup(0);
    try {
      await sleep(1_000);
      assert.equal(await served(s.srv.port, 'poll.test'), fingerprint(s.v1));
    } finally { await s.done(); }
  });
});

describe('hot reload of the client CA bundle and CRL', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let caA: IssuedCertificate;
  let caB: IssuedCertificate;
  let alice: IssuedCertificate;
  let carol: IssuedCertificate;
  let bob: IssuedCertificate;
  let store: CertificateStore;
  let srv: EdgeTestServer;
  let seen: CertificateStoreEvent[];

  const crl = (ca: IssuedCertificate, revoked: IssuedCertificate[]) => crlPem(ca, revoked, { revocationDate: new Date(Date.now() - 30_000) });

  const accepted = async (servername: string, client: IssuedCertificate): Promise<boolean> => {
    try {
      const h = await handshake({ port: srv.port, servername, cert: client.certPem, key: client.keyPem });
      const ok = await echo(h.socket, 'x', 1_000).then(() => true, () => false);
      h.end();
      return ok;
    } catch { return false; }
  };

  let one: IssuedCertificate;
  let two: IssuedCertificate;

  before(async () => {
    const serverCa = await issueCertificate({ subject: 'CN=server CA', ca: true });
    caA = await issueCertificate({ subject: 'CN=client CA A', ca: true });
    caB = await issueCertificate({ subject: 'CN=client CA B', ca: true });
    alice = await issueCertificate({ subject: 'CN=alice', issuer: caA });
    carol = await issueCertificate({ subject: 'CN=carol', issuer: caA });
    bob = await issueCertificate({ subject: 'CN=bob', issuer: caB });
    one = await issueCertificate({ subject: 'CN=one.test', issuer: serverCa, usage: 'server', dnsNames: ['one.test'] });
    two = await issueCertificate({ subject: 'CN=two.test', issuer: serverCa, usage: 'server', dnsNames: ['two.test'] });
  });
  // each case starts from CA A's bundle and empty CRLs, in files of its own
  beforeEach(async () => {
    ({ dir, cleanup } = await makeTempDir());
    await atomicWrite(join(dir, 'clients.pem'), caA.certPem);
    await atomicWrite(join(dir, 'clients.crl'), await crl(caA, []));
    await atomicWrite(join(dir, 'clients-b.crl'), await crl(caB, []));
    store = await createCertificateStore({
      certificates: [await writePair(dir, 'one', one), await writePair(dir, 'two', two)],
      trustFiles: { ca: [join(dir, 'clients.pem')], crl: [join(dir, 'clients.crl'), join(dir, 'clients-b.crl')] },
      ...FAST,
    });
    seen = events(store);
    srv = await startStoreServer(store, { requestCert: true, rejectUnauthorized: true });
  });
  afterEach(async () => { await srv.close(); await store.stop(); await cleanup(); });

  it('starts with the bundle from the file', async () => {
    assert.equal(await accepted('two.test', alice), true);
    assert.equal(await accepted('two.test', bob), false);
    assert.equal(store.trustStatus().caCertificates, 1);
    assert.deepEqual(store.trustStatus().warnings, []);
  });

  it('a replaced CA bundle applies to new handshakes on every name', async () => {
    await atomicWrite(join(dir, 'clients.pem'), caB.certPem);
    await waitFor(async () => (await accepted('two.test', bob)) && !(await accepted('two.test', alice)), 'CA B to be trusted instead of CA A', 5_000);
    assert.equal(await accepted('one.test', bob), true);
    assert.equal(await accepted('one.test', alice), false);
  });

  it('a broken CA bundle is refused and the previous trust stays', async () => {
    const before = seen.length;
    await atomicWrite(join(dir, 'clients.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await waitFor(() => seen.slice(before).find((e) => e.type === 'refused' && e.id === 'trust'), 'the refusal', 5_000);
    assert.equal(await accepted('two.test', alice), true, 'CA A still trusted');
    assert.equal(await accepted('two.test', bob), false);
    assert.ok(store.trustStatus().lastError);
  });

  /** the handshake verifies and the store's trust (what the verifier asks per connection) finds no revocation */
  const admitted = async (name: string, who: IssuedCertificate): Promise<boolean> => {
    if (!(await accepted(name, who))) return false;
    const trust = store.clientTrust();
    const path = trust.pathOf(who.cert, () => []);
    return path !== undefined && trust.revocationOf(path, { now: Date.now(), graceMs: 0 }) === undefined;
  };

  it('a reloaded CRL revokes a client certificate for new handshakes', async () => {
    await atomicWrite(join(dir, 'clients.pem'), caA.certPem + caB.certPem);
    await waitFor(() => accepted('two.test', alice), 'CA A and B to be trusted', 5_000);
    assert.equal(await accepted('two.test', carol), true);
    await atomicWrite(join(dir, 'clients.crl'), await crl(caA, [alice]));
    await waitFor(async () => !(await admitted('two.test', alice)), 'alice to be revoked', 5_000);
    assert.equal(await admitted('two.test', carol), true);
    assert.equal(await admitted('one.test', alice), false);
  });

  it('a CRL that is not a CRL is refused', async () => {
    await atomicWrite(join(dir, 'clients.crl'), await crl(caA, [alice]));
    await waitFor(async () => !(await admitted('two.test', alice)), 'alice to be revoked', 5_000);
    const before = seen.length;
    await atomicWrite(join(dir, 'clients.crl'), 'garbage');
    const e = await waitFor(() => seen.slice(before).find((x) => x.type === 'refused'), 'the refusal', 5_000);
    assert.equal(e.type === 'refused' && e.code, 'ERR_CRL_INVALID');
    assert.equal(await admitted('two.test', alice), false, 'the previous CRL still applies');
  });
});

describe('hot reload ends TLS session resumption across the swap', () => {
  it('a session from before a trust reload is not resumed (a revoked client must do a full handshake)', async () => {
    const t = await makeTempDir();
    const ca = await issueCertificate({ subject: 'CN=ticket CA', ca: true });
    const leafCert = await issueCertificate({ subject: 'CN=t.test', issuer: ca, usage: 'server', dnsNames: ['t.test'] });
    const client = await issueCertificate({ subject: 'CN=alice', issuer: ca });
    const store = await createCertificateStore({ certificates: [await writePair(t.dir, 't', leafCert)], trustOptions: { ca: ca.certPem }, watch: false });
    const srv = await startStoreServer(store, { requestCert: true, rejectUnauthorized: true });
    const connectWith = async (session?: Buffer) => {
      const got: Buffer[] = [];
      // not the handshake() helper: a resumed session may carry no peer certificate object
      const socket = await new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
        const c = connectTls({ host: '127.0.0.1', port: srv.port, servername: 't.test', cert: client.certPem, key: client.keyPem, ca: ca.certPem, session }, () => resolve(c));
        c.on('session', (s: Buffer) => got.push(s));
        c.once('error', reject);
      });
      await echo(socket, 'x'); // TLS 1.3 tickets arrive after the handshake
      const reused = socket.isSessionReused();
      socket.destroy();
      return { reused, session: got.at(-1) };
    };
    try {
      const first = await connectWith();
      assert.ok(first.session, 'the server issued a ticket');
      assert.equal((await connectWith(first.session)).reused, true, 'control: resumption works without a reload');
      store.setTrustOptions({ ca: ca.certPem });
      assert.equal((await connectWith(first.session)).reused, false);
    } finally {
      await srv.close(); await store.stop(); await t.cleanup();
    }
  });
});
