/**
 * Building a generation in-process (no proxy process, no listener): what one
 * validated config decides — router, clusters, verifier, binder — built whole;
 * a part that cannot be built throws and leaves nothing running; what the
 * edge admits a connection by (the connection-mode route's rule, none for
 * http routes); health checks that run only while the generation is current;
 * and a reload's next generation keeps what is known of a server that stays in
 * an upstream whose settings (and CA bytes) did not change (and only then).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { parseConfigObject, type Config } from '../../src/config/index.js';
import { buildGeneration, type Generation } from '../../src/generation.js';
import type { ClientTrust } from '../../src/edge/index.js';
import { createLogger } from '../../src/observe/index.js';
import { describeCertificate, type CertificateInfo } from '../../src/pki/index.js';
import { issueCertificate } from '../../src/pki/dev/index.js';
import { listen } from '../helpers/net.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { baseConfig, makePki, type TestPki } from '../helpers/proxy-process.js';

let pki: TestPki;
let backend: TlsServer;
let backendPort: number;
/** TLS handshakes the backend has completed (health checks are the only ones in these tests) */
let backendHandshakes = 0;
const logger = createLogger({ level: 'silent' });
const noTrust = (): ClientTrust => { throw new Error('no client is verified in these tests'); };

function config(change: (c: Record<string, any>) => void = () => {}): Config {
  const raw = baseConfig(pki.dir, backendPort, { match: { sni: 'kes.test' } }) as Record<string, any>;
  raw.upstreams.backend.alpn = ['http/1.1']; // known: no probe needed
  raw.upstreams.other = { servers: [`127.0.0.1:${backendPort}`, '127.0.0.1:1'], ca: `${pki.dir}/backend-ca.crt`, servername: 'backend.internal', alpn: ['http/1.1'] };
  raw.routes.push({ upstream: 'other', mode: 'http', identity: 'header', header: 'rfc9440', proxyCert: { cert: `${pki.dir}/proxy-client.crt`, key: `${pki.dir}/proxy-client.key` } });
  change(raw);
  return parseConfigObject(raw, pki.dir);
}

const build = (c: Config, previous?: Generation) => buildGeneration({ config: c, logger, number: previous ? previous.number + 1 : 1, trust: noTrust, previous });

describe('building a generation', () => {
  before(async () => {
    pki = await makePki();
    backend = createTlsServer({ cert: pki.pki.backend.certPem, key: pki.pki.backend.keyPem }, (s) => { backendHandshakes++; s.end(); });
    backendPort = await listen(backend);
  });
  after(() => new Promise<void>((resolve) => backend.close(() => resolve())));

  it('builds the router, one cluster per upstream, the verifier and the binder from one config', async () => {
    const generation = await build(config());
    try {
      assert.equal(generation.number, 1);
      assert.deepEqual([...generation.clusters.keys()], ['backend', 'other']);
      assert.deepEqual(generation.clusters.get('other')!.servers.map((s) => s.address), [`127.0.0.1:${backendPort}`, '127.0.0.1:1']);
      assert.equal(generation.router.forConnection('kes.test')?.primary.upstream, 'backend');
      assert.equal(generation.router.forConnection('other.test')?.primary.upstream, 'other', 'the route with no match is the default');
      assert.equal(generation.protocols.upstreamAlpn('backend', 'http/1.1').alpn, 'http/1.1', 'what the upstream speaks, as configured');
      // the route's proxy certificate is presented by the health checks and header-mode connections
      assert.ok(generation.binder.healthContext('other'));
    } finally {
      await generation.stop();
    }
  });

  it('refuses a config whose upstream CA file is gone, and starts nothing', async () => {
    const broken = config((c) => { c.upstreams.other.ca = `${pki.dir}/no-such-ca.crt`; });
    await assert.rejects(build(broken), /no-such-ca\.crt/);
  });

  it('keeps a staying server\'s fail timeout when its upstream did not change, and forgets it when the upstream changed', async () => {
    const first = await build(config());
    const dead = first.clusters.get('other')!.servers[1];
    first.clusters.get('other')!.markFailed(dead, Date.now(), 'refused');
    const until = dead.failedUntil;
    assert.ok(until > Date.now());

    // same settings, one server more: the known-dead one is still skipped
    const same = await build(config((c) => { c.upstreams.other.servers.push('127.0.0.1:2'); }), first);
    const kept = same.clusters.get('other')!.servers.find((s) => s.address === '127.0.0.1:1')!;
    assert.equal(kept.failedUntil, until);
    assert.notEqual(same.clusters.get('other'), first.clusters.get('other'), 'a new cluster object (its own pools and sessions)');

    // another setting changed: servers are tried as new
    const changed = await build(config((c) => { c.upstreams.other.failTimeout = '30s'; }), same);
    assert.equal(changed.clusters.get('other')!.servers.find((s) => s.address === '127.0.0.1:1')!.failedUntil, 0);
    for (const generation of [first, same, changed]) await generation.stop();
  });

  it('admits by the rule of the connection-mode route a connection leads to, and leaves http routes to forward', async () => {
    const generation = await build(config((c) => {
      c.routes[0].allow = { cn: ['alice'] };
      c.routes[1].allow = { cn: ['carol'] };
    }));
    try {
      const issued = async (cn: string): Promise<CertificateInfo> => describeCertificate((await issueCertificate({ subject: `CN=${cn}`, issuer: pki.pki.clientCa })).cert);
      const [alice, bob] = [await issued('alice'), await issued('bob')];
      const rule = (sni: string, client: CertificateInfo | undefined) => generation.admission.connectionRule({ sni, listener: 'main', client, namesVouched: true });
      assert.equal(rule('kes.test', alice), undefined, 'alice is allowed on the connection-mode route');
      assert.match(String(rule('kes.test', bob)), /routes\[0\]\.allow/, 'bob is refused by that route\'s rule, named');
      assert.equal(rule('kes.test', undefined), undefined, 'an anonymous client is refused by forward (no certificate), not by a rule');
      // the http route: its rule applies per request (forward asks the generation's access rules), never at the edge
      assert.equal(rule('other.test', bob), undefined);
      const httpRoute = generation.router.forConnection('other.test')!.primary;
      assert.match(String(generation.access.refusedBy(httpRoute, bob, true)), /routes\[1\]\.allow/);
      assert.match(String(generation.access.refusedBy(httpRoute, alice, true)), /routes\[1\]\.allow/, 'carol\'s route refuses alice too');
    } finally {
      await generation.stop();
    }
  });

  it('runs its health checks only between start() and stop()', async () => {
    const generation = await build(config((c) => { c.upstreams.backend.health = { interval: '100ms', timeout: '1s' }; }));
    const server = generation.clusters.get('backend')!.servers[0];
    const before = backendHandshakes;
    await sleep(300); // three intervals: built is not started
    assert.equal(backendHandshakes, before, 'no check before start()');
    assert.equal(server.lastCheck, undefined);

    generation.start();
    generation.start(); // a second start starts nothing more
    const check = await waitFor(() => server.lastCheck, 'the first health check', 5_000);
    assert.equal(check.ok, true, `the check passed: ${check.reason ?? ''}`);

    await generation.stop();
    const stoppedAt = backendHandshakes;
    await sleep(300); // three intervals: stopped checks stay stopped
    assert.equal(backendHandshakes, stoppedAt, 'no check after stop()');
  });

  it('forgets what it knew of a server when the upstream\'s CA file was rewritten in place, even with the same config', async () => {
    const caFile = `${pki.dir}/other-ca-in-place.crt`;
    await writeFile(caFile, pki.pki.backendCa.certPem);
    const withCa = () => config((c) => { c.upstreams.other.ca = caFile; });
    const first = await build(withCa());
    const dead = first.clusters.get('other')!.servers[1];
    first.clusters.get('other')!.markFailed(dead, Date.now(), 'refused');
    assert.ok(dead.failedUntil > Date.now());

    const again = await build(withCa(), first);
    assert.equal(again.clusters.get('other')!.servers[1].failedUntil, dead.failedUntil, 'control: same bytes, state kept');

    // the same path, another bundle (it still verifies the server): what the checks knew was verified with the old one
    await writeFile(caFile, `${pki.pki.backendCa.certPem}\n${pki.pki.edgeCa.certPem}`);
    const rotated = await build(withCa(), again);
    assert.notEqual(rotated.clusters.get('other')!.tlsDigest, again.clusters.get('other')!.tlsDigest);
    assert.equal(rotated.clusters.get('other')!.servers[1].failedUntil, 0);
    for (const generation of [first, again, rotated]) await generation.stop();
  });
});
