import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText, ConfigError, parseDuration, delegationLimits, DEFAULT_DELEGATION_LIMITS } from '../../src/config/index.js';
import { withReferenceTable } from '../../src/config/config-reference.js';
import { REPO_ROOT } from '../helpers/proxy-process.js';

const minimal = `
edge:
  certificates: [{ cert: certs/edge.crt, key: certs/edge.key }]
  clientAuth: { ca: certs/client-ca.crt }
delegation:
  ca: { cert: certs/d.crt, key: certs/d.key }
upstreams:
  kes: { servers: ["127.0.0.1:7373"], ca: certs/b.crt }
routes:
  - upstream: kes
`;

function problems(text: string): string[] {
  try {
    parseConfigText(text, '/etc/cs/countersign.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assert.equal(err.code, 'ERR_CONFIG_INVALID');
    return err.problems;
  }
  return [];
}

test('a minimal config gets the safe defaults', () => {
  const c = parseConfigText(minimal, '/etc/cs/countersign.yaml');
  assert.equal(c.edge.minVersion, 'TLSv1.2');
  assert.equal(c.edge.clientAuth.mode, 'require');
  assert.equal(c.upstreams.kes.minVersion, 'TLSv1.3');
  assert.equal(c.routes[0].mode, 'connection');
  assert.equal(c.routes[0].identity, 'delegated');
  assert.equal(c.delegation!.ttl, 3_600_000);
  assert.equal(c.timeouts.idle, 300_000);
  assert.equal(c.listen, '0.0.0.0:8443');
});

test('the minter\'s limits come from the schema: a config without them gets DEFAULT_DELEGATION_LIMITS (1h, 10 000, 64 MiB)', () => {
  const c = parseConfigText(minimal, '/etc/cs/countersign.yaml');
  assert.deepEqual(delegationLimits(c.delegation!), DEFAULT_DELEGATION_LIMITS);
  assert.deepEqual(DEFAULT_DELEGATION_LIMITS, { ttlMs: 3_600_000, cacheSize: 10_000, cacheMemoryBytes: 64 * 1024 * 1024 });
  const set = parseConfigText(minimal.replace('  ca: { cert: certs/d.crt, key: certs/d.key }\n', '  ca: { cert: certs/d.crt, key: certs/d.key }\n  ttl: 10m\n  cache: 50\n  cacheMemoryMiB: 1.5\n'), '/etc/cs/countersign.yaml');
  assert.deepEqual(delegationLimits(set.delegation!), { ttlMs: 600_000, cacheSize: 50, cacheMemoryBytes: 1_572_864 });
});

test('routes[].headerName is checked by the header format, as a request would: a token, and none for k8s-front-proxy', () => {
  const withRoute = (extra: string) => minimal.replace('  - upstream: kes\n', `  - upstream: kes\n${extra}`);
  assert.deepEqual(problems(withRoute('    headerName: X-SSL-Client-Cert\n')), []);
  const bad = problems(withRoute('    headerName: bad header\n'));
  assert.ok(bad.some((l) => l.startsWith('routes[0].headerName:') && l.includes('not a valid HTTP header name')), bad.join('\n'));
  const k8s = problems(withRoute('    mode: http\n    identity: header\n    header: k8s-front-proxy\n    headerName: X-User\n'));
  assert.ok(k8s.some((l) => l.startsWith('routes[0].headerName:') && l.includes('does not apply to header: k8s-front-proxy')), k8s.join('\n'));
});

test('paths are resolved relative to the config file', () => {
  const c = parseConfigText(minimal, '/etc/cs/countersign.yaml');
  assert.equal(c.edge.certificates[0].cert, '/etc/cs/certs/edge.crt');
  assert.deepEqual(c.edge.clientAuth.ca, ['/etc/cs/certs/client-ca.crt']);
  assert.equal(c.delegation!.ca.key, '/etc/cs/certs/d.key');
  assert.deepEqual(c.upstreams.kes.ca, ['/etc/cs/certs/b.crt']);
});

test('unknown keys are errors with their path', () => {
  const p = problems(minimal.replace('clientAuth: { ca: certs/client-ca.crt }', 'clientAuth: { ca: certs/client-ca.crt, crls: x }'));
  assert.deepEqual(p, ['edge.clientAuth: unknown key "crls"; did you mean "crl"?']);
});

test('a mistyped key or value suggests the closest valid name; a wild one gets no guess', () => {
  const p = problems(minimal.replace('clientAuth: { ca: certs/client-ca.crt }', 'clientAuth: { ca: certs/client-ca.crt, mode: requier, frobnicate: 1 }'));
  assert.deepEqual(p.sort(), [
    'edge.clientAuth.mode: "requier" is not one of require, optional, any; did you mean "require"?',
    'edge.clientAuth: unknown key "frobnicate"',
  ]);
  const q = problems(minimal.replace('  - upstream: kes', '  - upstream: kes\n    mdoe: http'));
  assert.deepEqual(q, ['routes[0]: unknown key "mdoe"; did you mean "mode"?']);
});

test('a route naming a missing upstream says which names exist', () => {
  const p = problems(minimal.replace('  - upstream: kes', '  - upstream: kes\n    match: { sni: a.example }\n  - upstream: kms'));
  assert.deepEqual(p, ['routes[1].upstream: no upstream named "kms" (known: kes)']);
});

test('every problem is reported at once', () => {
  const p = problems(minimal.replace('mode', 'x').replace('"127.0.0.1:7373"', '"nohost"').replace('ca: { cert: certs/d.crt, key: certs/d.key }', 'ca: { cert: certs/d.crt }\n  ttl: 10 minutes'));
  assert.ok(p.some((l) => l.startsWith('upstreams.kes.servers[0]: expected host:port')), p.join('\n'));
  assert.ok(p.some((l) => l.startsWith('delegation.ca.key:')), p.join('\n'));
  assert.ok(p.some((l) => l.startsWith('delegation.ttl: "10 minutes" is not a duration')), p.join('\n'));
});

test('broken YAML names the line', () => {
  const p = problems('edge:\n  clientAuth: [unclosed\n');
  assert.equal(p.length, 1);
  assert.match(p[0], /^YAML line \d+, column \d+: /);
});

test('header identity needs http mode and a proxy certificate', () => {
  const p = problems(minimal.replace('  - upstream: kes', '  - upstream: kes\n    identity: header'));
  assert.ok(p.some((l) => l.startsWith('routes[0].identity: "header" needs mode: http')), p.join('\n'));
  assert.ok(p.some((l) => l.startsWith('routes[0].proxyCert: is required with identity: header')), p.join('\n'));
});

test('require and optional modes need a client CA; any does not', () => {
  assert.deepEqual(problems(minimal.replace('clientAuth: { ca: certs/client-ca.crt }', 'clientAuth: { mode: optional }')),
    ['edge.clientAuth.ca: is required with mode: optional (the CA bundle that client certificates must chain to)']);
  assert.deepEqual(problems(minimal.replace('clientAuth: { ca: certs/client-ca.crt }', 'clientAuth: { mode: any }')), []);
});

test('identities on the deny list must be 64 hex characters', () => {
  const p = problems(minimal.replace('  clientAuth:', '  deny: [root]\n  clientAuth:'));
  assert.match(p[0], /^edge\.deny\[0\]: an identity is 64 lowercase hex characters/);
});

test('a number where a duration, an identity or an address is expected gets the hint a bad string gets', () => {
  const p = problems(minimal.replace('  clientAuth:', '  deny: [1234]\n  clientAuth:').replace('ca: { cert: certs/d.crt, key: certs/d.key }', 'ca: { cert: certs/d.crt, key: certs/d.key }\n  ttl: 300').replace('"127.0.0.1:7373"', '7373'));
  assert.ok(p.some((l) => l === 'delegation.ttl: the number 300 is not a duration: give its unit, e.g. "300s" or "300ms" (500ms, 30s, 5m, 1h, 7d)'), p.join('\n'));
  assert.ok(p.some((l) => /^edge\.deny\[0\]: an identity is 64 lowercase hex characters \(countersign identity of FILE prints it\); got the number 1234 \(quote an identity/.test(l)), p.join('\n'));
  assert.ok(p.some((l) => l === 'upstreams.kes.servers[0]: expected host:port, e.g. 127.0.0.1:8443 or [::1]:8443; got the number 7373'), p.join('\n'));
  assert.ok(!p.some((l) => /expected string/.test(l)), p.join('\n'));
});

test('durations parse with units and combinations', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  assert.equal(parseDuration('30'), undefined);
  assert.equal(parseDuration('1 h'), undefined);
});

test('docs/configuration.md lists every key exactly as the schema does', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs/configuration.md'), 'utf8');
  assert.equal(doc, withReferenceTable(doc), 'run `npm run docs:config` and commit docs/configuration.md');
});

test('workers: one by default, a count or auto; ACME works with workers too', () => {
  assert.equal(parseConfigText(minimal, '/etc/cs/countersign.yaml').workers, 1);
  assert.equal(parseConfigText(`workers: 4\n${minimal}`, '/etc/cs/countersign.yaml').workers, 4);
  assert.equal(parseConfigText(`workers: auto\n${minimal}`, '/etc/cs/countersign.yaml').workers, 'auto');
  assert.ok(problems(`workers: 0\n${minimal}`).some((l) => l.startsWith('workers:')));
  assert.ok(problems(`workers: many\n${minimal}`).some((l) => l.startsWith('workers:')));
  const acme = minimal.replace('  clientAuth:', '  acme: { directory: letsencrypt, domains: [a.example], storage: acme }\n  clientAuth:');
  assert.deepEqual(problems(acme), []);
  assert.deepEqual(problems(`workers: 2\n${acme}`), []);
});

test('admin.listen: host:port or a socket path (resolved against the config), never the edge port', () => {
  assert.equal(parseConfigText(`admin: { listen: "127.0.0.1:9901" }\n${minimal}`, '/etc/cs/countersign.yaml').admin?.listen, '127.0.0.1:9901');
  assert.equal(parseConfigText(`admin: { listen: ./run/admin.sock }\n${minimal}`, '/etc/cs/countersign.yaml').admin?.listen, '/etc/cs/run/admin.sock');
  assert.deepEqual(problems(`admin: { listen: "0.0.0.0:8443" }\n${minimal}`), ['admin.listen: 0.0.0.0:8443 uses the edge port; the admin listener needs its own address (it answers without client certificates)']);
  assert.ok(problems(`admin: { listen: admin.sock }\n${minimal}`).some((l) => l.startsWith('admin.listen: expected host:port (e.g. 127.0.0.1:9901) or a unix socket path')));
  assert.equal(parseConfigText(minimal, '/etc/cs/countersign.yaml').admin, undefined, 'off by default');
});

test('log.file is resolved against the config and cannot be pretty', () => {
  assert.equal(parseConfigText(`log: { file: logs/cs.log }\n${minimal}`, '/etc/cs/countersign.yaml').log.file, '/etc/cs/logs/cs.log');
  assert.ok(problems(`log: { file: cs.log, pretty: true }\n${minimal}`).some((l) => l.startsWith('log.pretty:')));
});

test('upstream health: defaults, and identity-hash balance', () => {
  const c = parseConfigText(minimal.replace('ca: certs/b.crt }', 'ca: certs/b.crt, balance: identity-hash, health: { type: http, path: /healthz } }'), '/etc/cs/countersign.yaml');
  assert.equal(c.upstreams.kes.balance, 'identity-hash');
  assert.deepEqual(c.upstreams.kes.health, { type: 'http', interval: 5000, timeout: 2000, path: '/healthz', expectStatus: 200, unhealthyAfter: 2, healthyAfter: 2 });
  assert.ok(problems(minimal.replace('ca: certs/b.crt }', 'ca: certs/b.crt, health: { type: udp } }')).some((l) => l.startsWith('upstreams.kes.health.type:')));
});

const withAcmeStorage = (storage: string) => minimal.replace('  clientAuth: { ca: certs/client-ca.crt }\n', `  clientAuth: { ca: certs/client-ca.crt }\n  acme:\n    directory: letsencrypt\n    domains: [a.example.com]\n    storage: ${storage}\n`);

test('ACME storage on etcd needs a TLS client certificate and https endpoints, so check reports it', () => {
  assert.deepEqual(problems(withAcmeStorage('{ etcd: { endpoints: ["https://etcd:2379"] } }')),
    ['edge.acme.storage.etcd.tls: etcd storage needs tls: { ca, cert, key } (a client certificate): ACME keys are written to etcd only over mTLS']);
  assert.deepEqual(problems(withAcmeStorage('{ etcd: { endpoints: ["https://etcd:2379"], tls: { ca: certs/etcd-ca.crt } } }')),
    ['edge.acme.storage.etcd.tls.cert: is required', 'edge.acme.storage.etcd.tls.key: is required']);
  assert.match(problems(withAcmeStorage('{ etcd: { endpoints: ["http://etcd:2379"], tls: { ca: a, cert: b, key: c } } }'))[0], /^edge\.acme\.storage\.etcd\.endpoints\[0\]: .*https/);
});

test('ACME storage is a directory or etcd; etcd TLS paths resolve against the config file, with defaults', () => {
  assert.deepEqual(problems(withAcmeStorage('certs/acme')), []);
  const c = parseConfigText(withAcmeStorage('{ etcd: { endpoints: ["https://etcd:2379"], tls: { ca: certs/ca.crt, cert: certs/c.crt, key: certs/c.key } } }'), '/etc/cs/countersign.yaml');
  assert.deepEqual(c.edge.acme?.storage, {
    etcd: { endpoints: ['https://etcd:2379'], prefix: '/countersign/acme/', lockTtl: 30_000, tls: { ca: '/etc/cs/certs/ca.crt', cert: '/etc/cs/certs/c.crt', key: '/etc/cs/certs/c.key' } },
  });
});
