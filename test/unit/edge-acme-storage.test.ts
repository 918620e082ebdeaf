/**
 * The two ACME storages behind one interface: a directory (file-acme-storage.ts)
 * and a real etcd over mTLS (etcd-acme-storage.ts, Debian's etcd-server started
 * here with --client-cert-auth): round trips, first-writer-wins account key,
 * the lease lock (exclusive, released, lost, and taken over after its holder
 * is SIGKILLed), and the watch that tells other instances of certificates and
 * challenge answers.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileAcmeStorage, type SharedChallenge } from '../../src/edge/acme/index.js';
import { EtcdAcmeStorage, type EtcdAcmeStorageOptions } from '../../src/edge/acme/etcd-acme-storage.js';
import { isCountersignError } from '../../src/errors.js';
import { issueCertificate } from '../../src/pki/dev/index.js';
import { makeTempDir, waitFor } from '../helpers/edge-tls.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';

const DIRECTORY = 'https://127.0.0.1:14000/dir';
const meta = (domain: string) => ({ domain, directory: DIRECTORY, issuedAt: new Date().toISOString() });

describe('file ACME storage', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => { ({ dir, cleanup } = await makeTempDir()); });
  after(() => cleanup());

  it('round-trips a certificate, keys 0600 in 0700 directories', async () => {
    const s = new FileAcmeStorage({ root: dir, directoryUrl: DIRECTORY });
    await s.init();
    assert.equal(await s.readCertificate('a.example.com'), undefined);
    await s.writeCertificate('a.example.com', { certPem: 'CERT', keyPem: 'KEY' }, meta('a.example.com'));
    assert.deepEqual(await s.readCertificate('a.example.com'), { certPem: 'CERT', keyPem: 'KEY' });
    const p = s.certificatePaths('a.example.com');
    assert.equal((await stat(p.key)).mode & 0o777, 0o600);
    assert.equal((await stat(join(p.key, '..'))).mode & 0o777, 0o700);
    assert.equal(s.location, join(dir, '127.0.0.1_14000-dir'));
  });

  it('keeps the first account key', async () => {
    const s = new FileAcmeStorage({ root: dir, directoryUrl: DIRECTORY });
    await s.init();
    assert.equal(await s.createAccountKey('FIRST'), 'FIRST');
    assert.equal(await s.createAccountKey('SECOND'), 'FIRST');
    assert.equal(await s.readAccountKey(), 'FIRST');
    assert.equal((await stat(join(s.location, 'account.key'))).mode & 0o777, 0o600);
  });

  it('locks a name within the process until released', async () => {
    const s = new FileAcmeStorage({ root: dir, directoryUrl: DIRECTORY });
    const lock = await s.tryLock('a.example.com');
    assert.ok(lock);
    assert.equal(await s.tryLock('a.example.com'), undefined);
    assert.ok(await s.tryLock('b.example.com'));
    await lock.release();
    assert.ok(await s.tryLock('a.example.com'));
  });
});

describe('etcd ACME storage', () => {
  let etcd: EtcdServer;
  let options: EtcdAcmeStorageOptions;
  const opened: EtcdAcmeStorage[] = [];
  const open = (o: Partial<EtcdAcmeStorageOptions> = {}) => {
    const s = new EtcdAcmeStorage({ ...options, ...o });
    opened.push(s);
    return s;
  };

  before(async () => {
    etcd = await startEtcd();
    options = {
      endpoints: [etcd.endpoint], prefix: '/unit/', directoryUrl: DIRECTORY, lockTtlMs: 2_000,
      tls: { ca: etcd.ca.certPem, cert: etcd.client.certPem, key: etcd.client.keyPem },
    };
  });
  after(async () => {
    for (const s of opened) await s.close();
    await etcd?.stop();
  });

  it('round-trips a certificate as one etcd key under prefix and directory', async () => {
    const s = open();
    await s.init();
    assert.equal(await s.readCertificate('a.example.com'), undefined);
    await s.writeCertificate('a.example.com', { certPem: 'CERT', keyPem: 'KEY' }, meta('a.example.com'));
    assert.deepEqual(await open().readCertificate('a.example.com'), { certPem: 'CERT', keyPem: 'KEY' }, 'another client reads it');
    const raw = await etcd.etcdctl('get', '--print-value-only', '/unit/127.0.0.1_14000-dir/certificates/a.example.com');
    assert.deepEqual(JSON.parse(raw).meta.domain, 'a.example.com');
    assert.equal(s.certificatePaths('a.example.com').cert, 'etcd:/unit/127.0.0.1_14000-dir/certificates/a.example.com');
  });

  it('keeps the first account key written by any instance', async () => {
    const [a, b] = [open({ prefix: '/account/' }), open({ prefix: '/account/' })];
    assert.equal(await a.readAccountKey(), undefined);
    assert.equal(await a.createAccountKey('KEY-A'), 'KEY-A');
    assert.equal(await b.createAccountKey('KEY-B'), 'KEY-A', 'the second instance gets the stored key back');
    assert.equal(await b.readAccountKey(), 'KEY-A');
  });

  it('gives the lock of a name to one instance at a time', async () => {
    const [a, b] = [open(), open()];
    const lock = await a.tryLock('lock.example.com');
    assert.ok(lock);
    assert.equal(await b.tryLock('lock.example.com'), undefined, 'held by a');
    assert.equal(await a.tryLock('lock.example.com'), undefined, 'not re-entrant either');
    const owner = JSON.parse(await etcd.etcdctl('get', '--print-value-only', '/unit/127.0.0.1_14000-dir/locks/lock.example.com')).owner;
    assert.equal(owner, a.owner);
    await lock.release();
    const again = await b.tryLock('lock.example.com');
    assert.ok(again, 'released: b takes it');
    await again.release();
  });

  it('keeps the lock past its TTL while the holder lives (keep-alive)', async () => {
    const [a, b] = [open(), open()];
    const lock = await a.tryLock('alive.example.com');
    assert.ok(lock);
    // three TTLs: without keep-alives etcd would have dropped it
    const until = Date.now() + 3 * options.lockTtlMs;
    while (Date.now() < until) {
      assert.equal(await b.tryLock('alive.example.com'), undefined);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(lock.signal.aborted, false);
    await lock.release();
  });

  it('hands the lock to another instance after the holder is SIGKILLed and its lease expires', async () => {
    const module = pathToFileURL(join(import.meta.dirname, '../../src/edge/acme/etcd-acme-storage.js')).href;
    const script = `
      const { EtcdAcmeStorage } = await import(${JSON.stringify(module)});
      const s = new EtcdAcmeStorage(JSON.parse(process.env.OPTIONS));
      const lock = await s.tryLock('killed.example.com');
      console.log(lock ? 'locked' : 'busy');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, OPTIONS: JSON.stringify(options) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await waitFor(() => out.includes('locked') || out.includes('busy') || child.exitCode !== null, 'the child to take the lock', 30_000);
      assert.match(out, /locked/);
      const b = open();
      assert.equal(await b.tryLock('killed.example.com'), undefined, 'the child holds it');
      child.kill('SIGKILL');
      await exited;
      const killedAt = Date.now();
      const lock = await waitFor(() => b.tryLock('killed.example.com'), 'the lock to be free again', 30_000, 200);
      // freed by its lease running out (lockTtl 2 s), not at some later point (a lease kept alive, or left to a janitor)
      const freedAfterMs = Date.now() - killedAt;
      assert.ok(freedAfterMs <= 3 * options.lockTtlMs + 2_000, `the lock was free ${freedAfterMs} ms after its holder died (lockTtl ${options.lockTtlMs} ms)`);
      await lock.release();
    } finally {
      if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited; }
    }
  });

  it('aborts the lock signal when the lease is lost (revoked behind its back)', async () => {
    const a = open();
    const lock = await a.tryLock('lost.example.com');
    assert.ok(lock);
    const json = await etcd.etcdctl('get', '-w', 'json', '/unit/127.0.0.1_14000-dir/locks/lost.example.com');
    const leaseHex = BigInt(/"lease":(\d+)/.exec(json)![1]).toString(16); // an int64: JSON.parse would round it
    await etcd.etcdctl('lease', 'revoke', leaseHex);
    await waitFor(() => lock.signal.aborted, 'the lock signal to abort', 20_000);
    assert.ok(isCountersignError(lock.signal.reason, 'ERR_ACME_STORAGE'));
    assert.match((lock.signal.reason as Error).message, /lost the etcd lock for lost\.example\.com/);
    await lock.release();
  });

  it('tells a watching instance of certificates and of challenge answers another one publishes', async () => {
    const [a, b] = [open({ prefix: '/watch/' }), open({ prefix: '/watch/' })];
    const certs: string[] = [];
    const challenges: { id: string; c: SharedChallenge | undefined }[] = [];
    const unwatch = await b.watch({ onCertificate: (d) => certs.push(d), onChallenge: (id, _type, c) => challenges.push({ id, c }) });
    await a.writeCertificate('w.example.com', { certPem: 'CERT', keyPem: 'KEY' }, meta('w.example.com'));
    await waitFor(() => certs.includes('w.example.com'), 'the certificate event', 10_000);

    const lock = await a.tryLock('w.example.com');
    assert.ok(lock);
    const unpublish = await lock.publishChallenge({ type: 'http-01', id: 'tok123', domain: 'w.example.com', keyAuthorization: 'tok123.thumb' });
    await waitFor(() => challenges.find((e) => e.c), 'the challenge event', 10_000);
    assert.deepEqual(challenges[0], { id: 'tok123', c: { type: 'http-01', id: 'tok123', domain: 'w.example.com', keyAuthorization: 'tok123.thumb', owner: a.owner } });
    assert.equal((await b.readChallenge('http-01', 'tok123'))?.keyAuthorization, 'tok123.thumb', 'also read on demand (a validation faster than the watch)');
    await unpublish();
    assert.equal(await b.readChallenge('http-01', 'tok123'), undefined);
    await waitFor(() => challenges.find((e) => e.c === undefined), 'the challenge removal', 10_000);
    assert.equal(challenges[1].id, 'tok123');

    // a challenge still published when the lock goes is removed with the lease
    await lock.publishChallenge({ type: 'tls-alpn-01', id: 'w.example.com', domain: 'w.example.com', keyAuthorization: 'k' });
    await waitFor(() => challenges.length === 3, 'the second challenge', 10_000);
    await lock.release();
    await waitFor(() => challenges.length === 4 && challenges[3].c === undefined, 'its removal with the lease', 10_000);
    await unwatch();
  });

  it('refuses a client certificate etcd does not trust, with ERR_ACME_STORAGE naming the fix', async () => {
    const otherCa = await issueCertificate({ subject: 'CN=other CA', ca: true });
    const stranger = await issueCertificate({ subject: 'CN=stranger', issuer: otherCa, usage: 'client' });
    const s = open({ tls: { ca: etcd.ca.certPem, cert: stranger.certPem, key: stranger.keyPem }, requestTimeoutMs: 3_000 });
    await assert.rejects(s.init(), (err) => {
      assert.ok(isCountersignError(err, 'ERR_ACME_STORAGE'));
      assert.match(err.message, /acme\.storage\.etcd/);
      return true;
    });
  });

  it('refuses plain-http endpoints and a missing client certificate', () => {
    assert.throws(() => new EtcdAcmeStorage({ ...options, endpoints: ['http://127.0.0.1:2379'] }), (err) => isCountersignError(err, 'ERR_CONFIG_INVALID'));
    assert.throws(() => new EtcdAcmeStorage({ ...options, tls: { ca: etcd.ca.certPem, cert: '', key: '' } }), (err) => isCountersignError(err, 'ERR_CONFIG_INVALID'));
  });
});
