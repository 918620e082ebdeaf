/**
 * Certificates pushed by a source (the ACME manager's side of the store
 * interface), checked through real handshakes: precedence over files for the
 * source's names only, and refusal of bad material without losing the old.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import { createCertificateStore, type CertificateSource, type CertificateStore, type CertificateStoreEvent, type SourceCertificate } from '../../src/edge/certificate-store.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/issue-certificate.js';
import { crlPem } from '../helpers/crl.js';
import { atomicWrite, fingerprint, handshake, makeTempDir, startStoreServer, waitFor, writePair, type EdgeTestServer } from '../helpers/edge-tls.js';

/** A source under the test's control, shaped like the ACME manager. */
class ManualSource implements CertificateSource {
  readonly kind = 'acme' as const;
  entries: SourceCertificate[] = [];
  private listeners = new Set<() => void>();
  certificates(): SourceCertificate[] { return this.entries; }
  subscribe(onChange: () => void): () => void { this.listeners.add(onChange); return () => this.listeners.delete(onChange); }
  set(entries: SourceCertificate[]): void { this.entries = entries; for (const l of this.listeners) l(); }
}

describe('certificate store: certificates from a source', () => {
  let cleanup: () => Promise<void>;
  let fileShop: IssuedCertificate;
  let fileBlog: IssuedCertificate;
  let store: CertificateStore;
  let srv: EdgeTestServer;
  const source = new ManualSource();
  const seen: CertificateStoreEvent[] = [];

  before(async () => {
    const t = await makeTempDir();
    cleanup = t.cleanup;
    fileShop = await issueCertificate({ subject: 'CN=shop.test', usage: 'server', dnsNames: ['shop.test'] });
    fileBlog = await issueCertificate({ subject: 'CN=blog.test', usage: 'server', dnsNames: ['blog.test'] });
    source.entries = [{ id: 'acme:shop.test', names: ['shop.test'] }];
    store = await createCertificateStore({ certificates: [await writePair(t.dir, 'shop', fileShop), await writePair(t.dir, 'blog', fileBlog)], sources: [source], watch: false });
    store.subscribe((e) => seen.push(e));
    srv = await startStoreServer(store);
  });
  after(async () => { await srv.close(); await store.stop(); await cleanup(); });

  const served = async (name?: string) => { const h = await handshake({ port: srv.port, servername: name }); h.end(); return h.peer.fingerprint256; };

  it('lists a source entry before it has a certificate', () => {
    const row = store.list().find((r) => r.id === 'acme:shop.test')!;
    assert.deepEqual(row.names, ['shop.test']);
    assert.deepEqual(row.servedNames, []);
  });

  it('takes precedence for its names once it has a certificate, and only for those', async () => {
    const acmeShop = await issueCertificate({ subject: 'CN=shop.test', usage: 'server', dnsNames: ['shop.test'] });
    source.set([{ id: 'acme:shop.test', names: ['shop.test'], certPem: acmeShop.certPem, keyPem: acmeShop.keyPem, nextRenewal: new Date(Date.now() + 3600_000) }]);
    await waitFor(async () => (await served('shop.test')) === fingerprint(acmeShop), 'the source certificate');
    assert.equal(await served('blog.test'), fingerprint(fileBlog));
    assert.equal(await served(), fingerprint(acmeShop), 'the default follows its primary name, now from the source');
    const row = store.list().find((r) => r.id === 'acme:shop.test')!;
    assert.ok(row.nextRenewal && row.lastReload);
    assert.deepEqual(store.list().find((r) => r.id.endsWith('shop.crt'))!.servedNames, []);
  });

  it('refuses a mismatched or expired certificate from the source and keeps the previous one', async () => {
    const current = await served('shop.test');
    const other = await issueCertificate({ subject: 'CN=shop.test', usage: 'server', dnsNames: ['shop.test'] });
    const expired = await issueCertificate({ subject: 'CN=shop.test', usage: 'server', dnsNames: ['shop.test'], notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) });
    for (const [bad, code] of [[{ certPem: other.certPem, keyPem: fileShop.keyPem }, 'ERR_KEY_MISMATCH'], [expired, 'ERR_CERT_EXPIRED']] as const) {
      const before = seen.length;
      source.set([{ id: 'acme:shop.test', names: ['shop.test'], certPem: bad.certPem, keyPem: bad.keyPem }]);
      const e = await waitFor(() => seen.slice(before).find((x) => x.type === 'refused'), 'a refusal');
      assert.equal(e.type === 'refused' && e.code, code);
      assert.equal(await served('shop.test'), current);
    }
  });

  it('falls back to the file certificate when the source drops the entry', async () => {
    source.set([]);
    await waitFor(async () => (await served('shop.test')) === fingerprint(fileShop), 'the file certificate again');
    assert.equal(store.list().some((r) => r.source === 'acme'), false);
  });
});

describe('client trust warnings', () => {
  it('warns when CRL checking is on and a client CA has no CRL (its clients would all be rejected)', async () => {
    const t = await makeTempDir();
    try {
      const server = await issueCertificate({ subject: 'CN=s.test', usage: 'server', dnsNames: ['s.test'] });
      const caA = await issueCertificate({ subject: 'CN=client CA A', ca: true });
      const caB = await issueCertificate({ subject: 'CN=client CA B', ca: true });
      const crl = await crlPem(caA, [], { nextUpdate: new Date(Date.now() - 1_000) });
      await atomicWrite(join(t.dir, 'ca.pem'), caA.certPem + caB.certPem);
      await atomicWrite(join(t.dir, 'a.crl'), crl);
      const store = await createCertificateStore({
        certificates: [await writePair(t.dir, 's', server)],
        trustFiles: { ca: [join(t.dir, 'ca.pem')], crl: [join(t.dir, 'a.crl')] }, watch: false,
      });
      const warnings = store.trustStatus().warnings;
      await store.stop();
      assert.equal(warnings.length, 2);
      assert.match(warnings.find((w) => w.includes('nextUpdate'))!, /a\.crl: CRL of "CN=client CA A" is past its nextUpdate/);
      assert.match(warnings.find((w) => w.includes('no CRL'))!, /CA "CN=client CA B" has no CRL/);
    } finally {
      await t.cleanup();
    }
  });
});
