/**
 * The maintainer takes any issuer: here one that signs with a local CA (real
 * certificates, real files in a FileAcmeStorage), so the renewal loop, the
 * backoff, the stored-certificate path and the events are shown without an
 * ACME server. Every log line comes from the one subscriber of the events.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { DEFAULT_ACME_TIMING } from '../../src/config/index.js';
import {
  AcmeEvents, CertificateMaintainer, FileAcmeStorage, logAcmeEvents,
  type AcmeEvent, type CertificateIssuer, type IssueRequest,
} from '../../src/edge/acme/index.js';
import { CountersignError } from '../../src/errors.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/index.js';
import { makeTempDir } from '../helpers/edge-tls.js';
import { memoryLogger, recordEvents } from '../helpers/pebble.js';

const DIRECTORY = 'https://ca.internal/directory';
const FAST = { ...DEFAULT_ACME_TIMING, checkIntervalMs: 1_000, retryMinMs: 100, retryMaxMs: 400 };

/** An issuer that is not ACME: signs the maintainer's key with a local CA, `lifetimeMs` long. */
class LocalCaIssuer implements CertificateIssuer {
  readonly location = DIRECTORY;
  readonly requests: IssueRequest[] = [];
  failWith: Error | undefined;
  constructor(private readonly ca: IssuedCertificate, private readonly lifetimeMs: number) {}

  async issue(request: IssueRequest): Promise<string> {
    this.requests.push(request);
    if (this.failWith) throw this.failWith;
    request.onOrder(`${DIRECTORY}/order/${this.requests.length}`);
    const spki = createPublicKey(request.keyPem).export({ type: 'spki', format: 'der' });
    const publicKey = await webcrypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    const notBefore = new Date(Date.now() - 1_000);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: Date.now().toString(16), subject: `CN=${request.domain}`, issuer: this.ca.cert.subject.split('\n').join(', '),
      notBefore, notAfter: new Date(notBefore.getTime() + this.lifetimeMs),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, publicKey, signingKey: this.ca.signingKey,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: request.domain }])],
    });
    return `${cert.toString('pem')}\n`;
  }

  explain(err: unknown, domain: string): CountersignError {
    return err instanceof CountersignError ? err : new CountersignError('ERR_ACME', `${domain}: ${(err as Error).message}`);
  }

  async close(): Promise<void> {}
}

describe('certificate maintainer with a non-ACME issuer', () => {
  let ca: IssuedCertificate;
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ca = await issueCertificate({ subject: 'CN=local test CA', ca: true });
    ({ dir, cleanup } = await makeTempDir());
  });
  after(() => cleanup());

  async function maintainerWith(issuer: CertificateIssuer, root: string) {
    const logger = memoryLogger();
    const storage = new FileAcmeStorage({ root, directoryUrl: DIRECTORY });
    await storage.init();
    const events = new AcmeEvents(logger);
    logAcmeEvents(events, logger);
    const maintainer = new CertificateMaintainer({ issuer, storage, domains: ['svc.example.com'], keyType: 'ec-p256', timing: FAST, events, logger });
    return { maintainer, storage, logger, recorded: recordEvents(events) };
  }

  it('serves and stores what the issuer signs, and renews when a third of the lifetime remains', async () => {
    const issuer = new LocalCaIssuer(ca, 3_000);
    const { maintainer, storage, logger, recorded } = await maintainerWith(issuer, `${dir}/renew`);
    let changes = 0;
    maintainer.subscribe(() => { changes++; });
    await maintainer.start();
    try {
      const issued = await recorded.next((e) => e.type === 'issued', 'issued', 5_000);
      const served = maintainer.certificates()[0];
      assert.ok(served.certPem && served.keyPem);
      assert.equal((await storage.readCertificate('svc.example.com'))?.certPem, served.certPem, 'stored what is served');
      const leaf = new X509Certificate(served.certPem);
      assert.ok(leaf.checkPrivateKey(createPrivateKey(served.keyPem)), 'the issuer signed the key the maintainer made');
      assert.ok(issued.type === 'issued' && issued.certSha256 === leaf.fingerprint256.replaceAll(':', '').toLowerCase());

      const renewed = await recorded.next((e) => e.type === 'renewed', 'renewed', 5_000);
      assert.ok(issued.type === 'issued' && Date.now() >= issued.nextRenewal.getTime(), 'not renewed before it was due');
      assert.ok(renewed.type === 'renewed');
      assert.deepEqual(issuer.requests.map((r) => r.renewal), [false, true]);
      assert.notEqual(issuer.requests[0].keyPem, issuer.requests[1].keyPem, 'a fresh key per issuance');
      assert.ok(changes >= 3, 'subscribers hear of start, issuance and renewal');
      // one log line per event, written by the subscriber
      assert.deepEqual(logger.lines.map((l) => l.msg), [
        'ACME order placed', 'ACME certificate issued', 'ACME order placed', 'ACME certificate renewed',
      ]);
      assert.equal(recorded.all.length, logger.lines.length);
    } finally {
      await maintainer.stop();
      await storage.close();
    }
  });

  it('retries a failing issuer with growing delays, keeps nothing half-done, and stops promptly', async () => {
    const issuer = new LocalCaIssuer(ca, 60_000);
    issuer.failWith = new CountersignError('ERR_ACME', 'svc.example.com: the CA said no');
    const { maintainer, storage, logger, recorded } = await maintainerWith(issuer, `${dir}/fail`);
    await maintainer.start();
    try {
      const third = await recorded.next((e) => e.type === 'failed' && e.failures === 3, 'third failure', 5_000);
      assert.ok(third.type === 'failed' && third.code === 'ERR_ACME' && third.expiresInSeconds === undefined);
      const failed = recorded.all.filter((e): e is Extract<AcmeEvent, { type: 'failed' }> => e.type === 'failed');
      for (const [i, f] of failed.entries()) {
        const full = Math.min(FAST.retryMaxMs, FAST.retryMinMs * 2 ** i);
        assert.ok(f.retryInMs >= full / 2 && f.retryInMs <= full, `retry ${i + 1}: ${f.retryInMs} ms`);
      }
      const [status] = maintainer.status();
      assert.equal(status.state, 'pending');
      assert.equal(status.lastError?.code, 'ERR_ACME');
      assert.equal(maintainer.certificates()[0].certPem, undefined);
      assert.equal(await storage.readCertificate('svc.example.com'), undefined);
      const warnings = logger.lines.filter((l) => l.msg === 'ACME issuance failed; will retry');
      assert.equal(warnings.length, failed.length);
      assert.ok(warnings.every((l) => l.level === 'warn' && (l.obj as { serving: string }).serving === 'fallback certificate'));
    } finally {
      const t0 = Date.now();
      await maintainer.stop();
      assert.ok(Date.now() - t0 < 500, `stop took ${Date.now() - t0} ms`);
      await storage.close();
    }
  });

  it('serves a stored certificate at start without asking the issuer, and refuses one for another name', async () => {
    const root = `${dir}/stored`;
    const signer = new LocalCaIssuer(ca, 3_600_000);
    const { maintainer: first, storage: firstStorage, recorded: firstEvents } = await maintainerWith(signer, root);
    await first.start();
    await firstEvents.next((e) => e.type === 'issued', 'issued', 5_000);
    await first.stop();
    await firstStorage.close();

    const issuer = new LocalCaIssuer(ca, 3_600_000);
    const { maintainer, storage, recorded } = await maintainerWith(issuer, root);
    await maintainer.start();
    try {
      const loaded = recorded.all.find((e) => e.type === 'loaded');
      assert.ok(loaded && loaded.type === 'loaded' && loaded.storage === storage.location);
      assert.equal(maintainer.status()[0].state, 'valid');
      assert.equal(issuer.requests.length, 0, 'nothing asked of the issuer');
    } finally {
      await maintainer.stop();
      await storage.close();
    }

    // a certificate for another name in the storage is not served, and says why
    const other = await issueCertificate({ subject: 'CN=other.example.com', usage: 'server', dnsNames: ['other.example.com'] });
    await storage.writeCertificate('svc.example.com', { certPem: other.certPem, keyPem: other.keyPem }, { domain: 'svc.example.com', directory: DIRECTORY, issuedAt: new Date().toISOString() });
    const refuser = new LocalCaIssuer(ca, 3_600_000);
    refuser.failWith = new CountersignError('ERR_ACME', 'not now');
    const third = await maintainerWith(refuser, root);
    await third.maintainer.start();
    try {
      const unusable = third.recorded.all.find((e) => e.type === 'unusable');
      assert.ok(unusable && unusable.type === 'unusable' && /names other\.example\.com instead/.test(unusable.reason));
      assert.equal(third.logger.lines[0].msg, 'stored ACME certificate not usable');
    } finally {
      await third.maintainer.stop();
      await third.storage.close();
    }
  });
});
