/**
 * Renewal against a real Pebble issuing 10-second certificates
 * (`certificateValidityPeriod`), so the "a third of the lifetime remains" rule
 * fires within seconds without faking a clock. Then the CA goes down during a
 * renewal: the current certificate keeps being served, the loop backs off, and
 * it renews once the CA is back.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { createAcmeManager, type AcmeManager } from '../../src/edge/acme/index.js';
import { createCertificateStore, type CertificateStore } from '../../src/edge/certificate-store.js';
import { echo, freePort, makeTempDir, startEdgeHarness, type EdgeTestServer } from '../helpers/edge-tls.js';
import { FAST_ACME, memoryLogger, recordEvents, startPebble, startRelay, type AcmeRelay, type Pebble } from '../helpers/pebble.js';

const DOMAIN = 'renew.countersign.test';
const LIFETIME_S = 10;

async function servedCert(port: number): Promise<X509Certificate> {
  const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const c = tls.connect({ host: '127.0.0.1', port, servername: DOMAIN, rejectUnauthorized: false }, () => resolve(c));
    c.once('error', reject);
  });
  const cert = s.getPeerX509Certificate()!;
  s.destroy();
  return cert;
}

describe('ACME renewal with short-lived Pebble certificates', () => {
  let pebble: Pebble;
  let relay: AcmeRelay;
  let cleanup: () => Promise<void>;
  let manager: AcmeManager;
  let store: CertificateStore;
  let edge: EdgeTestServer;
  let events: ReturnType<typeof recordEvents>;
  let storage: string;
  const log = memoryLogger();

  before(async () => {
    const edgePort = await freePort();
    pebble = await startPebble({ httpPort: await freePort(), tlsPort: edgePort, certificateValidityPeriodSeconds: LIFETIME_S });
    await pebble.addDomain(DOMAIN);
    relay = await startRelay(pebble);
    const t = await makeTempDir();
    cleanup = t.cleanup;
    storage = t.dir;
    manager = createAcmeManager({
      directory: relay.directoryUrl, ca: pebble.httpsCa, domains: [DOMAIN], challenge: 'tls-alpn-01', storage, logger: log, ...FAST_ACME,
    });
    events = recordEvents(manager);
    store = await createCertificateStore({ certificates: [], sources: [manager], watch: false, logger: log });
    edge = await startEdgeHarness({ store, responder: manager.tlsAlpnResponder, port: edgePort });
  });
  after(async () => {
    await manager?.stop();
    await edge?.close();
    await store?.stop();
    await relay?.close();
    await pebble?.stop();
    await cleanup?.();
  });

  it('renews when a third of the lifetime remains and swaps it in under an open connection', async () => {
    await manager.start();
    const issued = await events.next((e) => e.type === 'issued', 'issued');
    const first = await servedCert(edge.port);
    const open = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port: edge.port, servername: DOMAIN, rejectUnauthorized: false }, () => resolve(c));
      c.once('error', reject);
    });
    const [nb, na] = [new Date(first.validFrom).getTime(), new Date(first.validTo).getTime()];
    assert.ok(issued.type === 'issued' && Math.abs(issued.nextRenewal.getTime() - (na - (na - nb) / 3)) <= 1, 'renewal is due when a third of the lifetime remains');

    const renewed = await events.next((e) => e.type === 'renewed', 'renewed', LIFETIME_S * 1000);
    const due = issued.type === 'issued' ? issued.nextRenewal.getTime() : 0;
    assert.ok(Date.now() >= due, 'not renewed before it was due');
    assert.ok(renewed.type === 'renewed' && renewed.expiresInSeconds > 0);

    const second = await servedCert(edge.port);
    assert.notEqual(second.serialNumber, first.serialNumber);
    assert.equal(await echo(open, 'still open'), 'still open', 'the connection made with the old certificate survives the swap');
    open.destroy();

    const orders = events.all.filter((e) => e.type === 'order');
    assert.deepEqual(orders.map((e) => e.type === 'order' && e.renewal), [false, true]);
    const stored = new X509Certificate(await readFile(manager.status()[0].paths.cert));
    assert.equal(stored.serialNumber, second.serialNumber, 'the renewed certificate replaced the stored one');
  });

  it('keeps serving the current certificate while the CA is down, backs off, and renews when it is back', async () => {
    const current = await servedCert(edge.port);
    relay.down();
    const firstFailure = await events.next((e) => e.type === 'failed', 'failed renewal', LIFETIME_S * 1000);
    assert.ok(firstFailure.type === 'failed' && firstFailure.expiresInSeconds !== undefined);
    assert.match(firstFailure.type === 'failed' ? firstFailure.reason : '', /cannot reach the ACME server/);
    assert.equal((await servedCert(edge.port)).serialNumber, current.serialNumber);
    const second = await events.next((e) => e.type === 'failed' && e.failures === 2, 'second failure', 5_000);
    assert.ok(second.type === 'failed' && second.retryInMs >= FAST_ACME.retryMinMs, 'the second retry waits at least the base delay');
    assert.equal((await servedCert(edge.port)).serialNumber, current.serialNumber);

    const line = log.lines.find((l) => l.msg === 'ACME renewal failed; will retry')!;
    assert.equal(line.level, 'warn');
    assert.equal((line.obj as { serving: string }).serving, 'previous certificate');
    const row = store.list()[0];
    assert.equal(row.lastError?.code, 'ERR_ACME');

    relay.up();
    await events.next((e) => e.type === 'renewed', 'renewed after the outage', 10_000);
    const after = await servedCert(edge.port);
    assert.notEqual(after.serialNumber, current.serialNumber);
    assert.equal(manager.status()[0].failures, 0);
    assert.equal(store.list()[0].lastError, undefined);
  });
});
