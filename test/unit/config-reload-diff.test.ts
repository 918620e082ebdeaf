/**
 * What a reload would change, and which changes need a restart
 * (config/reload-diff.ts); the pid file's default; host:port parsing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configChanges, parseConfigText, parseHostPort, summarizeChanges } from '../../src/config/index.js';

const base = (extra = '') => `
listen: 127.0.0.1:8443
edge:
  certificates: [{ cert: certs/edge.crt, key: certs/edge.key }]
  clientAuth: { ca: certs/client-ca.crt }
  deny: ["${'a'.repeat(64)}"]
delegation:
  ca: { cert: certs/d.crt, key: certs/d.key }
upstreams:
  kes: { servers: ["10.0.0.1:7373", "10.0.0.2:7373"], ca: certs/b.crt }
routes:
  - upstream: kes
${extra}`;
const parse = (text: string) => parseConfigText(text, '/etc/cs/countersign.yaml');

test('an identical config changes nothing', () => {
  const c = configChanges(parse(base()), parse(base()));
  assert.equal(c.none, true);
  assert.deepEqual(c.restartRequired, []);
  assert.equal(summarizeChanges(c), 'config unchanged');
});

test('servers, upstreams, routes and deny entries are named, and need no restart', () => {
  const next = parse(base().replace('"10.0.0.1:7373", ', '').replace('"10.0.0.2:7373"]', '"10.0.0.2:7373", "10.0.0.3:7373"]')
    .replace('routes:\n  - upstream: kes', 'routes:\n  - upstream: kes\n  - upstream: web\n    mode: http\n    match: { pathPrefix: /web/ }')
    .replace(`deny: ["${'a'.repeat(64)}"]`, `deny: ["${'b'.repeat(64)}"]`)
    .replace('upstreams:\n', 'upstreams:\n  web: { servers: ["10.0.0.9:443"], ca: certs/b.crt }\n'));
  const c = configChanges(parse(base()), next);
  assert.deepEqual(c.restartRequired, []);
  assert.deepEqual(c.servers, { added: ['web/10.0.0.9:443', 'kes/10.0.0.3:7373'], removed: ['kes/10.0.0.1:7373'] });
  assert.deepEqual(c.upstreams, { added: ['web'], removed: [], changed: ['kes'] });
  assert.deepEqual(c.routes, { added: ['path /web/ → web (http)'], removed: [] });
  assert.deepEqual(c.deny, { added: ['b'.repeat(64)], removed: ['a'.repeat(64)] });
  assert.equal(summarizeChanges(c),
    'routes added: path /web/ → web (http); upstreams added: web; upstreams changed: kes; servers added: web/10.0.0.9:443, kes/10.0.0.3:7373; servers removed: kes/10.0.0.1:7373; deny entries added: 1; deny entries removed: 1');
});

test('listen, workers, admin, edge TLS settings and the delegation need a restart, each named', () => {
  const next = parse(base('workers: 2\nadmin: { listen: 127.0.0.1:9901 }\ntimeouts: { shutdownGrace: 3s, idle: 1m }')
    .replace('listen: 127.0.0.1:8443', 'listen: 127.0.0.1:9443')
    .replace('clientAuth: { ca: certs/client-ca.crt }', 'clientAuth: { ca: certs/other-ca.crt }\n  minVersion: TLSv1.3')
    .replace('ca: { cert: certs/d.crt, key: certs/d.key }', 'ca: { cert: certs/d.crt, key: certs/d.key }\n  ttl: 2h'));
  const c = configChanges(parse(base()), next);
  assert.deepEqual(c.restartRequired.sort(), ['admin', 'delegation.ttl', 'listen', 'timeouts.idle', 'workers']);
  assert.deepEqual(c.other.sort(), ['edge.clientAuth.ca', 'edge.minVersion', 'timeouts.shutdownGrace'], 'the grace period and the edge TLS settings are reloadable');
  assert.equal(c.certificateStore, true, 'edge TLS settings need a new certificate store');
});

test('with edge.acme, the edge certificates and client trust need a restart (the ACME manager lives as long as the process)', () => {
  const acme = base().replace('edge:\n', 'edge:\n  acme: { directory: "https://acme.example/dir", domains: [a.example], storage: acme }\n');
  const next = parse(acme.replace('clientAuth: { ca: certs/client-ca.crt }', 'clientAuth: { ca: certs/other-ca.crt }'));
  const c = configChanges(parse(acme), next);
  assert.deepEqual(c.restartRequired, ['edge.clientAuth.ca']);
  assert.equal(c.certificateStore, false);
});

test('pidFile defaults to the config file name with .pid beside it, and resolves against the config', () => {
  assert.equal(parse(base()).pidFile, '/etc/cs/countersign.pid');
  assert.equal(parse(base('pidFile: run/cs.pid')).pidFile, '/etc/cs/run/cs.pid');
  assert.equal(parseConfigText(base(), '/srv/x/edge.yml').pidFile, '/srv/x/edge.pid');
});

test('host:port is parsed once into its parts, brackets off; anything else is undefined', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:8443'), { host: '127.0.0.1', port: 8443 });
  assert.deepEqual(parseHostPort('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseHostPort('kes.internal:7373'), { host: 'kes.internal', port: 7373 });
  for (const bad of ['::1:80', 'host', 'host:', 'host:65536', ':80', 'a b:80', '[::1]', 'host:80x']) assert.equal(parseHostPort(bad), undefined, bad);
});
