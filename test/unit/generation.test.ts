/**
 * Building a generation in-process (no proxy process, no listener): what one
 * validated config decides — router, clusters, verifier, binder — built whole;
 * a part that cannot be built throws and leaves nothing running; and a reload's
 * next generation keeps what is known of a server that stays in an upstream
 * whose settings did not change (and only then).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { parseConfigObject, type Config } from '../../src/config/index.js';
import { buildGeneration, type Generation } from '../../src/generation.js';
import type { ClientTrust } from '../../src/edge/index.js';
import { createLogger } from '../../src/observe/index.js';
import { listen } from '../helpers/net.js';
import { baseConfig, makePki, type TestPki } from '../helpers/proxy-process.js';

let pki: TestPki;
let backend: TlsServer;
let backendPort: number;
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
    backend = createTlsServer({ cert: pki.pki.backend.certPem, key: pki.pki.backend.keyPem }, (s) => s.end());
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
});
