/**
 * SNI selection, RSA+ECDSA for one name, start-up validation and trust options,
 * all through real handshakes on 127.0.0.1.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { createCertificateStore, type CertificateStore } from '../../src/edge/certificate-store.js';
import { isCountersignError } from '../../src/errors.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/issue-certificate.js';
import { fingerprint, handshake, makeTempDir, opensslLeaf, startStoreServer, writePair, type EdgeTestServer } from '../helpers/edge-tls.js';

describe('certificate store: SNI selection', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ca: IssuedCertificate;
  let def: IssuedCertificate;
  let api: IssuedCertificate;
  let wild: IssuedCertificate;
  let apex: IssuedCertificate;
  let store: CertificateStore;
  let srv: EdgeTestServer;

  before(async () => {
    ({ dir, cleanup } = await makeTempDir());
    ca = await issueCertificate({ subject: 'CN=edge test CA', ca: true });
    def = await issueCertificate({ subject: 'CN=default.test', issuer: ca, usage: 'server', dnsNames: ['default.test'], ipAddresses: ['127.0.0.1'] });
    api = await issueCertificate({ subject: 'CN=api.example.com', issuer: ca, usage: 'server', dnsNames: ['api.example.com'] });
    wild = await issueCertificate({ subject: 'CN=*.example.com', issuer: ca, usage: 'server', dnsNames: ['*.example.com'] });
    apex = await issueCertificate({ subject: 'CN=example.com', issuer: ca, usage: 'server', dnsNames: ['example.com'] });
    store = await createCertificateStore({
      certificates: [
        await writePair(dir, 'default', def),
        await writePair(dir, 'wild', wild),
        await writePair(dir, 'api', api),
        await writePair(dir, 'apex', apex),
      ],
      watch: false,
    });
    srv = await startStoreServer(store);
  });
  after(async () => { await srv.close(); await store.stop(); await cleanup(); });

  const servedFor = async (servername?: string) => {
    const h = await handshake({ port: srv.port, servername, ca: ca.certPem });
    h.end();
    return h.peer.fingerprint256;
  };

  it('serves the exact-name certificate even when a wildcard also matches', async () => {
    assert.equal(await servedFor('api.example.com'), fingerprint(api));
  });

  it('serves the wildcard certificate for a name one label below it', async () => {
    assert.equal(await servedFor('www.example.com'), fingerprint(wild));
  });

  it('does not let a wildcard match two labels down: the default is served', async () => {
    assert.equal(await servedFor('a.b.example.com'), fingerprint(def));
  });

  it('does not let a wildcard match its own apex; the apex has its own certificate', async () => {
    assert.equal(await servedFor('example.com'), fingerprint(apex));
  });

  it('matches names case-insensitively', async () => {
    assert.equal(await servedFor('API.Example.COM'), fingerprint(api));
  });

  it('serves the first configured certificate when the client sends no SNI', async () => {
    const h = await handshake({ port: srv.port }); // connecting by IP: Node sends no SNI
    h.end();
    assert.equal(h.peer.fingerprint256, fingerprint(def));
  });

  it('serves the first configured certificate for an unknown name', async () => {
    assert.equal(await servedFor('unknown.test'), fingerprint(def));
  });

  it('contextFor gives the same answers without a handshake', () => {
    assert.equal(store.contextFor('www.example.com'), store.contextFor('ftp.example.com'));
    assert.equal(store.contextFor(undefined), store.contextFor('nope.test'));
    assert.notEqual(store.contextFor('api.example.com'), store.contextFor('www.example.com'));
  });

  it('lists every certificate with names, issuer, validity, source and paths; never key material', () => {
    const rows = store.list();
    assert.equal(rows.length, 4);
    const first = rows.find((r) => r.isDefault)!;
    assert.deepEqual(first.names, ['default.test', '127.0.0.1']);
    assert.equal(first.source, 'file');
    assert.equal(first.issuer, 'CN=edge test CA');
    assert.equal(first.paths?.cert, join(dir, 'default.crt'));
    assert.ok(first.notAfter instanceof Date && first.notAfter > new Date());
    assert.ok(first.lastReload instanceof Date);
    assert.equal(first.lastError, undefined);
    const w = rows.find((r) => r.names.includes('*.example.com'))!;
    assert.deepEqual(w.servedNames, ['*.example.com']);
    assert.doesNotMatch(JSON.stringify(rows), /PRIVATE KEY|BEGIN CERTIFICATE/);
  });
});

describe('certificate store: RSA and ECDSA certificates for one name', () => {
  let cleanup: () => Promise<void>;
  let rsa: IssuedCertificate;
  let ec: IssuedCertificate;
  let store: CertificateStore;
  let srv: EdgeTestServer;

  before(async () => {
    const t = await makeTempDir();
    cleanup = t.cleanup;
    const ca = await issueCertificate({ subject: 'CN=dual CA', ca: true });
    rsa = await issueCertificate({ subject: 'CN=dual.test', issuer: ca, usage: 'server', dnsNames: ['dual.test'], keyAlgorithm: 'rsa-2048' });
    ec = await issueCertificate({ subject: 'CN=dual.test', issuer: ca, usage: 'server', dnsNames: ['dual.test'], keyAlgorithm: 'ec-p256' });
    store = await createCertificateStore({
      certificates: [await writePair(t.dir, 'rsa', rsa), await writePair(t.dir, 'ec', ec)],
      watch: false,
    });
    srv = await startStoreServer(store);
  });
  after(async () => { await srv.close(); await store.stop(); await cleanup(); });

  const base = () => ['-connect', `127.0.0.1:${srv.port}`, '-servername', 'dual.test'];

  it('serves ECDSA to a TLS 1.3 client that only accepts ECDSA signatures', async () => {
    const { leaf } = await opensslLeaf([...base(), '-tls1_3', '-sigalgs', 'ECDSA+SHA256']);
    assert.equal(leaf.fingerprint256, fingerprint(ec));
  });

  it('serves RSA to a TLS 1.3 client that only accepts RSA signatures', async () => {
    const { leaf } = await opensslLeaf([...base(), '-tls1_3', '-sigalgs', 'RSA-PSS+SHA256:RSA+SHA256']);
    assert.equal(leaf.fingerprint256, fingerprint(rsa));
  });

  it('serves by cipher suite to TLS 1.2 clients', async () => {
    const r = await opensslLeaf([...base(), '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
    assert.equal(r.leaf.fingerprint256, fingerprint(rsa));
    const e = await opensslLeaf([...base(), '-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
    assert.equal(e.leaf.fingerprint256, fingerprint(ec));
  });

  it('also serves both when the client sends no SNI and the pair is the default', async () => {
    const { leaf } = await opensslLeaf(['-connect', `127.0.0.1:${srv.port}`, '-noservername', '-tls1_3', '-sigalgs', 'RSA-PSS+SHA256']);
    assert.equal(leaf.fingerprint256, fingerprint(rsa));
  });

  it('lists both, each with its key type', () => {
    assert.deepEqual(store.list().map((r) => r.keyType).sort(), ['ec', 'rsa']);
    assert.ok(store.list().every((r) => r.servedNames.includes('dual.test')));
  });
});

describe('certificate store: start-up validation', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let good: IssuedCertificate;
  before(async () => {
    ({ dir, cleanup } = await makeTempDir());
    good = await issueCertificate({ subject: 'CN=good.test', usage: 'server', dnsNames: ['good.test'] });
  });
  after(() => cleanup());

  it('refuses a key that does not belong to the certificate, naming the file', async () => {
    const other = await issueCertificate({ subject: 'CN=other', usage: 'server', dnsNames: ['other.test'] });
    const pair = await writePair(dir, 'mismatch', { certPem: good.certPem, keyPem: other.keyPem });
    await assert.rejects(createCertificateStore({ certificates: [pair], watch: false }), (err) => {
      assert.ok(isCountersignError(err, 'ERR_KEY_MISMATCH'));
      assert.match(err.message, /mismatch\.crt/);
      return true;
    });
  });

  it('refuses an expired certificate', async () => {
    const expired = await issueCertificate({ subject: 'CN=old.test', usage: 'server', dnsNames: ['old.test'], notBefore: new Date(Date.now() - 10 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
    const pair = await writePair(dir, 'expired', expired);
    await assert.rejects(createCertificateStore({ certificates: [pair], watch: false }), (err) => isCountersignError(err, 'ERR_CERT_EXPIRED'));
  });

  it('refuses a missing file with the path in the message', async () => {
    await assert.rejects(createCertificateStore({ certificates: [{ cert: join(dir, 'nope.crt'), key: join(dir, 'nope.key') }], watch: false }), (err) => {
      assert.ok(isCountersignError(err, 'ERR_CONFIG_FILE'));
      assert.match(err.message, /nope\.crt.*ENOENT/);
      return true;
    });
  });

  it('refuses garbage instead of a certificate', async () => {
    await writeFile(join(dir, 'garbage.crt'), 'not a certificate');
    await writeFile(join(dir, 'garbage.key'), good.keyPem);
    await assert.rejects(createCertificateStore({ certificates: [{ cert: join(dir, 'garbage.crt'), key: join(dir, 'garbage.key') }], watch: false }), (err) => isCountersignError(err, 'ERR_PEM_INVALID'));
  });

  it('refuses a second certificate without subjectAltNames, which no SNI could select', async () => {
    const nameless = await issueCertificate({ subject: 'CN=nameless', usage: 'server' });
    const pairs = [await writePair(dir, 'good', good), await writePair(dir, 'nameless', nameless)];
    await assert.rejects(createCertificateStore({ certificates: pairs, watch: false }), (err) => isCountersignError(err, 'ERR_CERT_NO_NAMES'));
    const store = await createCertificateStore({ certificates: [pairs[1], pairs[0]], watch: false });
    await store.stop();
  });
});

describe('certificate store: trust options reach every context', () => {
  let cleanup: () => Promise<void>;
  let caA: IssuedCertificate;
  let caB: IssuedCertificate;
  let aliceA: IssuedCertificate;
  let bobB: IssuedCertificate;
  let store: CertificateStore;
  let srv: EdgeTestServer;

  before(async () => {
    const t = await makeTempDir();
    cleanup = t.cleanup;
    const serverCa = await issueCertificate({ subject: 'CN=server CA', ca: true });
    caA = await issueCertificate({ subject: 'CN=client CA A', ca: true });
    caB = await issueCertificate({ subject: 'CN=client CA B', ca: true });
    aliceA = await issueCertificate({ subject: 'CN=alice', issuer: caA });
    bobB = await issueCertificate({ subject: 'CN=bob', issuer: caB });
    const one = await issueCertificate({ subject: 'CN=one.test', issuer: serverCa, usage: 'server', dnsNames: ['one.test'] });
    const two = await issueCertificate({ subject: 'CN=two.test', issuer: serverCa, usage: 'server', dnsNames: ['two.test'] });
    store = await createCertificateStore({
      certificates: [await writePair(t.dir, 'one', one), await writePair(t.dir, 'two', two)],
      trustOptions: { ca: caA.certPem },
      watch: false,
    });
    srv = await startStoreServer(store, { requestCert: true, rejectUnauthorized: true });
  });
  after(async () => { await srv.close(); await store.stop(); await cleanup(); });

  const clientConnects = async (servername: string | undefined, client: IssuedCertificate): Promise<boolean> => {
    try {
      const h = await handshake({ port: srv.port, servername, cert: client.certPem, key: client.keyPem });
      // TLS 1.3: the server's verdict on the client certificate arrives after the client's handshake completes
      const alive = await new Promise<boolean>((resolve) => {
        h.socket.once('data', () => resolve(true));
        h.socket.once('error', () => resolve(false));
        h.socket.once('close', () => resolve(false));
        h.socket.write('ping');
      });
      h.end();
      return alive;
    } catch {
      return false;
    }
  };

  it('verifies client certificates with the configured CA in an SNI-selected context', async () => {
    assert.equal(await clientConnects('two.test', aliceA), true);
    assert.equal(await clientConnects('two.test', bobB), false);
  });

  it('setTrustOptions rebuilds every context, the default one included', async () => {
    store.setTrustOptions({ ca: caB.certPem });
    for (const name of ['one.test', 'two.test', undefined]) {
      assert.equal(await clientConnects(name, bobB), true, `bob via ${name ?? 'no SNI'}`);
      assert.equal(await clientConnects(name, aliceA), false, `alice via ${name ?? 'no SNI'}`);
    }
  });

  it('setTrustOptions refuses options OpenSSL rejects and keeps the previous contexts', async () => {
    const before = store.contextFor('one.test');
    assert.throws(() => store.setTrustOptions({ ca: caB.certPem, ciphers: 'NOT-A-CIPHER' }), (err) => isCountersignError(err, 'ERR_TLS_CONTEXT'));
    assert.equal(store.contextFor('one.test'), before);
    assert.equal(await clientConnects('one.test', bobB), true);
  });

  it('ignores cert/key smuggled into trust options', () => {
    store.setTrustOptions({ ca: caB.certPem, cert: 'x', key: 'y' } as Partial<tls.SecureContextOptions>);
    assert.ok(store.defaultContextOptions().cert);
    assert.notEqual(store.defaultContextOptions().cert, 'x');
  });
});
