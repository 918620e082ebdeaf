/**
 * An ACME server that is down from the start: the edge serves the configured
 * file certificate, the manager retries with growing jittered delays and logs
 * each failure, and stop() ends it promptly.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAcmeManager, type AcmeEvent, type AcmeManager } from '../../src/edge/acme/index.js';
import { createCertificateStore, type CertificateStore } from '../../src/edge/certificate-store.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/issue-certificate.js';
import { fingerprint, freePort, handshake, makeTempDir, sleep, startEdgeHarness, writePair, type EdgeTestServer } from '../helpers/edge-tls.js';
import { FAST_ACME, memoryLogger, recordEvents } from '../helpers/pebble.js';

const DOMAIN = 'down.countersign.test';

describe('ACME server down', () => {
  let cleanup: () => Promise<void>;
  let manager: AcmeManager;
  let store: CertificateStore;
  let edge: EdgeTestServer;
  let fallback: IssuedCertificate;
  const log = memoryLogger();

  before(async () => {
    const t = await makeTempDir();
    cleanup = t.cleanup;
    fallback = await issueCertificate({ subject: `CN=${DOMAIN}`, usage: 'server', dnsNames: [DOMAIN] });
    const closedPort = await freePort(); // nothing listens here
    manager = createAcmeManager({
      directory: `https://127.0.0.1:${closedPort}/directory`, domains: [DOMAIN], challenge: 'tls-alpn-01',
      storage: t.dir, logger: log, ...FAST_ACME, retryMinMs: 200, retryMaxMs: 800,
    });
    store = await createCertificateStore({ certificates: [await writePair(t.dir, 'fallback', fallback)], sources: [manager], watch: false, logger: log });
    edge = await startEdgeHarness({ store, responder: manager.tlsAlpnResponder });
  });
  after(async () => { await manager.stop(); await edge.close(); await store.stop(); await cleanup(); });

  it('serves the fallback certificate and retries with growing, jittered delays', async () => {
    const events = recordEvents(manager);
    const times: number[] = [];
    manager.on((e) => { if (e.type === 'failed') times.push(Date.now()); });
    await manager.start();
    const fourth = await events.next((e) => e.type === 'failed' && e.failures === 4, 'fourth failure', 10_000);
    const failures = events.all.filter((e): e is Extract<AcmeEvent, { type: 'failed' }> => e.type === 'failed');
    // delay k is within [base·2^(k-1)/2, base·2^(k-1)], capped at retryMaxMs
    for (const [i, f] of failures.entries()) {
      const full = Math.min(800, 200 * 2 ** i);
      assert.ok(f.retryInMs >= full / 2 && f.retryInMs <= full, `retry ${i + 1}: ${f.retryInMs} ms not in [${full / 2}, ${full}]`);
    }
    // the loop really waited: failures 1→4 are at least the three announced delays apart
    const waited = failures.slice(0, 3).reduce((sum, f) => sum + f.retryInMs, 0);
    assert.ok(times[3] - times[0] >= waited - 30, `only ${times[3] - times[0]} ms between failures 1 and 4, announced ${waited} ms`);
    assert.ok(fourth.type === 'failed');
    assert.match(fourth.reason, /cannot reach the ACME server .*ECONNREFUSED/);

    const h = await handshake({ port: edge.port, servername: DOMAIN });
    h.end();
    assert.equal(h.peer.fingerprint256, fingerprint(fallback), 'the file certificate is served meanwhile');

    const warnings = log.lines.filter((l) => l.msg === 'ACME issuance failed; will retry');
    assert.ok(warnings.length >= 4);
    assert.ok(warnings.every((l) => l.level === 'warn' && (l.obj as { serving: string }).serving === 'fallback certificate'));
    const [st] = manager.status();
    assert.equal(st.state, 'pending');
    assert.equal(st.lastError?.code, 'ERR_ACME');
    const row = store.list().find((r) => r.source === 'acme')!;
    assert.equal(row.lastError?.code, 'ERR_ACME');
    assert.ok(row.nextRenewal! > new Date(Date.now() - 1_000));
  });

  it('stop() resolves promptly while a retry is pending, and nothing happens afterwards', async () => {
    const t0 = Date.now();
    await manager.stop();
    assert.ok(Date.now() - t0 < 500, `stop took ${Date.now() - t0} ms`);
    const events = recordEvents(manager);
    await sleep(1_000);
    assert.deepEqual(events.all, []);
  });
});
