/**
 * A restart reuses the stored certificate: no order, not even a connection to
 * the CA (counted by a relay in front of Pebble), until renewal is due; then it
 * renews as usual.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import { createAcmeManager, type AcmeManager, type AcmeManagerOptions } from '../../src/edge/acme/index.js';
import { createCertificateStore, type CertificateStore } from '../../src/edge/certificate-store.js';
import { freePort, makeTempDir, sleep, startEdgeHarness, type EdgeTestServer } from '../helpers/edge-tls.js';
import { FAST_ACME, recordEvents, startPebble, startRelay, type AcmeRelay, type Pebble } from '../helpers/pebble.js';

const DOMAIN = 'restart.countersign.test';
const LIFETIME_S = 10;

async function servedSerial(port: number): Promise<string> {
  const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const c = tls.connect({ host: '127.0.0.1', port, servername: DOMAIN, rejectUnauthorized: false }, () => resolve(c));
    c.once('error', reject);
  });
  const serial = s.getPeerX509Certificate()!.serialNumber;
  s.destroy();
  return serial;
}

describe('ACME restart reuses the stored certificate', () => {
  let pebble: Pebble;
  let relay: AcmeRelay;
  let cleanup: () => Promise<void>;
  let options: AcmeManagerOptions;
  let edgePort: number;
  const running: { manager?: AcmeManager; store?: CertificateStore; edge?: EdgeTestServer } = {};

  async function boot(): Promise<{ manager: AcmeManager; events: ReturnType<typeof recordEvents> }> {
    const manager = createAcmeManager(options);
    const events = recordEvents(manager);
    const store = await createCertificateStore({ certificates: [], sources: [manager], watch: false });
    const edge = await startEdgeHarness({ store, responder: manager.tlsAlpnResponder, port: edgePort });
    Object.assign(running, { manager, store, edge });
    await manager.start();
    return { manager, events };
  }
  async function shutdown(): Promise<void> {
    await running.manager?.stop();
    await running.edge?.close();
    await running.store?.stop();
    Object.assign(running, { manager: undefined, store: undefined, edge: undefined });
  }

  before(async () => {
    edgePort = await freePort();
    pebble = await startPebble({ httpPort: await freePort(), tlsPort: edgePort, certificateValidityPeriodSeconds: LIFETIME_S });
    await pebble.addDomain(DOMAIN);
    relay = await startRelay(pebble);
    const t = await makeTempDir();
    cleanup = t.cleanup;
    options = { directory: relay.directoryUrl, ca: pebble.httpsCa, domains: [DOMAIN], challenge: 'tls-alpn-01', storage: t.dir, ...FAST_ACME };
  });
  after(async () => {
    await shutdown();
    await relay?.close();
    await pebble?.stop();
    await cleanup?.();
  });

  it('serves the stored certificate after a restart without asking the CA, and renews it when due', async () => {
    const first = await boot();
    const issued = await first.events.next((e) => e.type === 'issued', 'issued');
    const issuedSerial = await servedSerial(edgePort);
    await shutdown();

    const connectionsBefore = relay.connections;
    const second = await boot();
    const loaded = second.events.all.find((e) => e.type === 'loaded');
    assert.ok(loaded, 'start() loads the stored certificate');
    assert.equal(await servedSerial(edgePort), issuedSerial, 'the stored certificate is served right after the restart');
    assert.equal(second.manager.status()[0].state, 'valid');

    // it is not due yet: the loop wakes up (checkIntervalMs) and leaves the CA alone
    const due = issued.type === 'issued' ? issued.nextRenewal.getTime() : 0;
    await sleep(Math.min(2_500, due - Date.now() - 500));
    assert.equal(second.events.all.filter((e) => e.type === 'order').length, 0, 'no order after the restart');
    assert.equal(relay.connections, connectionsBefore, 'not even a connection to the CA');

    const renewed = await second.events.next((e) => e.type === 'renewed', 'renewed', LIFETIME_S * 1000);
    assert.ok(Date.now() >= due);
    assert.ok(renewed.type === 'renewed');
    assert.notEqual(await servedSerial(edgePort), issuedSerial);
    assert.ok(relay.connections > connectionsBefore);
  });
});
