/**
 * Full issuance from a real Pebble over tls-alpn-01, answered on the edge's own
 * TLS listener (ClientHello peek → responder → otherwise the normal server), with
 * no file certificate at all: the edge has nothing to serve until ACME issues.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { createAcmeManager, type AcmeManager } from '../../src/edge/acme/index.js';
import { createCertificateStore, type CertificateStore } from '../../src/edge/certificate-store.js';
import { echo, freePort, makeTempDir, startEdgeHarness, type EdgeTestServer } from '../helpers/edge-tls.js';
import { FAST_ACME, memoryLogger, recordEvents, startPebble, type Pebble } from '../helpers/pebble.js';

const DOMAIN = 'db.countersign.test';

function connect(port: number, opts: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...opts }, () => resolve(s));
    s.once('error', reject);
  });
}

describe('ACME tls-alpn-01 issuance from Pebble on the edge listener', () => {
  let pebble: Pebble;
  let cleanup: () => Promise<void>;
  let manager: AcmeManager;
  let store: CertificateStore;
  let edge: EdgeTestServer;
  const log = memoryLogger();

  before(async () => {
    const edgePort = await freePort();
    pebble = await startPebble({ httpPort: await freePort(), tlsPort: edgePort });
    await pebble.addDomain(DOMAIN);
    const t = await makeTempDir();
    cleanup = t.cleanup;
    manager = createAcmeManager({
      directory: pebble.directoryUrl, ca: pebble.httpsCa, domains: [DOMAIN], challenge: 'tls-alpn-01',
      storage: join(t.dir, 'acme'), logger: log, ...FAST_ACME,
    });
    store = await createCertificateStore({ certificates: [], sources: [manager], watch: false, logger: log });
    edge = await startEdgeHarness({ store, responder: manager.tlsAlpnResponder, port: edgePort });
  });
  after(async () => {
    await manager?.stop();
    await edge?.close();
    await store?.stop();
    await pebble?.stop();
    await cleanup?.();
  });

  it('has nothing to serve before issuance: the handshake fails, status shows the pending domain', async () => {
    await assert.rejects(connect(edge.port, { servername: DOMAIN, rejectUnauthorized: false }));
    const [row] = store.list();
    assert.equal(row.source, 'acme');
    assert.deepEqual(row.names, [DOMAIN]);
    assert.equal(row.notAfter, undefined);
  });

  it('answers the validation on the main listener and then serves the issued certificate', async () => {
    const events = recordEvents(manager);
    await manager.start();
    await events.next((e) => e.type === 'issued', 'issued').catch((err) => { throw new Error(`${err.message}\n${pebble.logs()}`); });
    assert.ok(log.lines.some((l) => l.msg === 'answered tls-alpn-01 validation'), 'the responder, not the normal server, answered');

    const s = await connect(edge.port, { servername: DOMAIN, ca: await pebble.issuingRoot(), ALPNProtocols: ['http/1.1'] });
    assert.equal(s.authorized, true);
    assert.equal(s.alpnProtocol, 'http/1.1');
    assert.match(s.getPeerX509Certificate()!.issuer, /Pebble Intermediate/);
    assert.equal(await echo(s, 'hello through the edge'), 'hello through the edge');
    s.destroy();
    assert.equal(manager.challenges.pending, 0, 'the challenge certificate is gone once validated');
  });

  it('sends a client that offers acme-tls/1 with no challenge pending to the normal server', async () => {
    // the normal server speaks only http/1.1 and answers RFC 7301's no_application_protocol:
    // a challenge certificate is never presented outside a pending validation
    await assert.rejects(
      connect(edge.port, { servername: DOMAIN, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }),
      (err: NodeJS.ErrnoException) => err.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL',
    );
  });
});
