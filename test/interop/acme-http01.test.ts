/**
 * Full issuance from a real Pebble over http-01 with external account binding,
 * served through the edge harness and verified against Pebble's own root.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { createAcmeManager, directoryKey, type AcmeManager } from '../../src/edge/acme/index.js';
import { createCertificateStore, type CertificateStore } from '../../src/edge/certificate-store.js';
import { issueCertificate } from '../../src/pki/dev/issue-certificate.js';
import { fingerprint, freePort, makeTempDir, startEdgeHarness, writePair, type EdgeTestServer } from '../helpers/edge-tls.js';
import { FAST_ACME, memoryLogger, recordEvents, startPebble, type Pebble } from '../helpers/pebble.js';

const DOMAIN = 'kes.countersign.test';
const EAB = { kid: 'kid-countersign', hmacKey: randomBytes(32).toString('base64url') };

function httpGet(port: number, path: string, host: string): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ACME http-01 issuance from Pebble (with EAB)', () => {
  let pebble: Pebble;
  let httpPort: number;
  let storage: string;
  let cleanup: () => Promise<void>;
  let manager: AcmeManager;
  let store: CertificateStore;
  let edge: EdgeTestServer;
  let fallbackFingerprint: string;
  const log = memoryLogger();

  before(async () => {
    httpPort = await freePort();
    pebble = await startPebble({ httpPort, tlsPort: await freePort(), eabKeys: { [EAB.kid]: EAB.hmacKey } });
    await pebble.addDomain(DOMAIN);
    const t = await makeTempDir();
    cleanup = t.cleanup;
    storage = join(t.dir, 'acme');
    const fallback = await issueCertificate({ subject: `CN=${DOMAIN}`, usage: 'server', dnsNames: [DOMAIN] });
    fallbackFingerprint = fingerprint(fallback);
    manager = createAcmeManager({
      directory: pebble.directoryUrl, ca: pebble.httpsCa, email: 'ops@countersign.test', domains: [DOMAIN],
      challenge: 'http-01', httpListen: `127.0.0.1:${httpPort}`, httpsPort: 8443, storage, eab: EAB, logger: log, ...FAST_ACME,
    });
    store = await createCertificateStore({ certificates: [await writePair(t.dir, 'fallback', fallback)], sources: [manager], watch: false, logger: log });
    edge = await startEdgeHarness({ store, responder: manager.tlsAlpnResponder });
  });
  after(async () => {
    await manager?.stop();
    await edge?.close();
    await store?.stop();
    await pebble?.stop();
    await cleanup?.();
  });

  it('orders, validates over http-01, downloads and serves the certificate on the edge', async () => {
    const events = recordEvents(manager);
    const served = async () => {
      const s = tls.connect({ host: '127.0.0.1', port: edge.port, servername: DOMAIN, rejectUnauthorized: false });
      await new Promise((r) => s.once('secureConnect', r));
      const fp = s.getPeerX509Certificate()!.fingerprint256;
      s.destroy();
      return fp;
    };
    assert.equal(await served(), fallbackFingerprint, 'the file certificate is served until ACME has issued');
    const t0 = Date.now();
    await manager.start();
    const issued = await events.next((e) => e.type === 'issued', 'issued').catch((err) => { throw new Error(`${err.message}\n${pebble.logs()}`); });
    assert.ok(Date.now() - t0 < 15_000);
    assert.equal(issued.type === 'issued' && issued.domain, DOMAIN);
    assert.equal(events.all.filter((e) => e.type === 'order').length, 1);

    // a strict client that trusts only Pebble's root accepts the edge now
    const root = await pebble.issuingRoot();
    const verified = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: edge.port, servername: DOMAIN, ca: root }, () => resolve(s));
      s.once('error', reject);
    });
    assert.equal(verified.authorized, true);
    assert.match(verified.getPeerX509Certificate()!.issuer, /Pebble Intermediate/);
    verified.destroy();
    assert.notEqual(await served(), fallbackFingerprint);
  });

  it('reports the certificate in store.list() and manager.status()', () => {
    const row = store.list().find((r) => r.source === 'acme')!;
    assert.deepEqual(row.servedNames, [DOMAIN]);
    assert.match(row.issuer!, /Pebble Intermediate/);
    assert.ok(row.nextRenewal && row.notAfter && row.nextRenewal < row.notAfter);
    const file = store.list().find((r) => r.source === 'file')!;
    assert.deepEqual(file.servedNames, [], 'ACME takes precedence for its domain');
    const [st] = manager.status();
    assert.equal(st.state, 'valid');
    assert.equal(st.failures, 0);
    assert.equal(st.challenge, 'http-01');
  });

  it('stores the account key and certificate key 0600 in 0700 directories', async () => {
    const base = join(storage, directoryKey(pebble.directoryUrl));
    const mode = async (p: string) => (await stat(p)).mode & 0o777;
    assert.equal(await mode(storage), 0o700);
    assert.equal(await mode(base), 0o700);
    assert.equal(await mode(join(base, 'account.key')), 0o600);
    assert.equal(await mode(join(base, 'certificates', DOMAIN)), 0o700);
    assert.equal(await mode(join(base, 'certificates', DOMAIN, 'private-key.pem')), 0o600);
  });

  it('logs issuance with stable fields and never a key or a whole certificate', () => {
    const line = log.lines.find((l) => l.msg === 'ACME certificate issued')!;
    assert.equal((line.obj as { domain: string }).domain, DOMAIN);
    assert.ok((line.obj as { expiresInSeconds: number }).expiresInSeconds > 0);
    assert.doesNotMatch(JSON.stringify(log.lines), /PRIVATE KEY|BEGIN CERTIFICATE/);
  });

  it('redirects every other plain-HTTP request to https and 404s unknown tokens', async () => {
    const r = await httpGet(httpPort, '/v1/key/list?x=1', `${DOMAIN}:${httpPort}`);
    assert.equal(r.status, 308);
    assert.equal(r.location, `https://${DOMAIN}:8443/v1/key/list?x=1`);
    assert.equal((await httpGet(httpPort, '/.well-known/acme-challenge/nope', DOMAIN)).status, 404);
    assert.equal((await httpGet(httpPort, '/', 'bad host/../')).status, 400);
  });

  it('reports a CA that requires EAB when none is configured, with what to set', async () => {
    const t = await makeTempDir();
    const noEab = createAcmeManager({
      directory: pebble.directoryUrl, ca: pebble.httpsCa, domains: [DOMAIN], challenge: 'http-01',
      httpListen: '127.0.0.1:0', storage: t.dir, ...FAST_ACME,
    });
    const events = recordEvents(noEab);
    await noEab.start();
    try {
      const failed = await events.next((e) => e.type === 'failed', 'failed');
      assert.equal(failed.type === 'failed' && failed.code, 'ERR_ACME');
      assert.match(failed.type === 'failed' ? failed.reason : '', /external account.*acme\.eab/i);
    } finally {
      await noEab.stop();
      await t.cleanup();
    }
  });

  it('fails validation for a name without DNS, saying what to check', async () => {
    const t = await makeTempDir();
    const noDns = createAcmeManager({
      directory: pebble.directoryUrl, ca: pebble.httpsCa, domains: ['nodns.countersign.test'], challenge: 'http-01',
      httpListen: '127.0.0.1:0', storage: t.dir, eab: EAB, ...FAST_ACME,
    });
    const events = recordEvents(noDns);
    await noDns.start();
    try {
      const failed = await events.next((e) => e.type === 'failed', 'failed');
      assert.equal(failed.type === 'failed' && failed.code, 'ERR_ACME_CHALLENGE');
      assert.match(failed.type === 'failed' ? failed.reason : '', /nodns\.countersign\.test: http-01 validation failed: .*check DNS/);
    } finally {
      await noDns.stop();
      await t.cleanup();
    }
  });
});
