import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigObject, ConfigError, configChanges, summarizeChanges, listenersOf, type Config } from '../../src/config/index.js';
import { Router } from '../../src/forward/router.js';

const base = (extra: Record<string, unknown>) => ({
  listen: '0.0.0.0:8443',
  edge: { certificates: [{ cert: 'e.crt', key: 'e.key' }], clientAuth: { mode: 'any' } },
  delegation: { ca: { cert: 'd.crt', key: 'd.key' } },
  upstreams: { a: { servers: ['127.0.0.1:1'], ca: 'b.crt' }, b: { servers: ['127.0.0.1:2'], ca: 'b.crt' }, pg: { servers: ['127.0.0.1:3'], ca: 'b.crt', starttls: 'postgres' } },
  routes: [{ upstream: 'a' }],
  ...extra,
});

function problems(input: Record<string, unknown>): string[] {
  try {
    parseConfigObject(input, '/tmp');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  return [];
}
const parse = (input: Record<string, unknown>): Config => parseConfigObject(input, '/tmp');

test('listen is listener main; listeners follow in their order with their preamble', () => {
  const c = parse(base({ edge: { ...base({}).edge, starttls: ['postgres'] }, listeners: [{ name: 'pg', listen: '127.0.0.1:5432', starttls: 'postgres' }, { name: 'b', listen: '127.0.0.1:9000' }] }));
  assert.deepEqual(listenersOf(c), [
    { name: 'main', listen: '0.0.0.0:8443', starttls: 'postgres' },
    { name: 'pg', listen: '127.0.0.1:5432', starttls: 'postgres' },
    { name: 'b', listen: '127.0.0.1:9000' },
  ]);
});

test('check refuses two listeners on one address, a wildcard included; port 0 never clashes', () => {
  assert.deepEqual(problems(base({ listeners: [{ name: 'x', listen: '0.0.0.0:8443' }] })), [
    'listeners[0].listen: 0.0.0.0:8443 is the address of listen (0.0.0.0:8443); two listeners cannot share one address',
  ]);
  assert.match(problems(base({ listeners: [{ name: 'x', listen: '127.0.0.1:8443' }] })).join('\n'), /listeners\[0\]\.listen: 127\.0\.0\.1:8443 is the address of listen \(0\.0\.0\.0:8443\)/);
  assert.match(problems(base({ listeners: [{ name: 'x', listen: '127.0.0.1:9000' }, { name: 'y', listen: '[::]:9000' }] })).join('\n'), /listeners\[1\]\.listen: \[::\]:9000 is the address of listeners\[0\]\.listen/);
  assert.match(problems(base({ listeners: [{ name: 'x', listen: '127.0.0.1:9901' }], admin: { listen: '127.0.0.1:9901' } })).join('\n'), /admin\.listen: 127\.0\.0\.1:9901 is the address of listeners\[0\]\.listen/);
  assert.deepEqual(problems(base({ listen: '127.0.0.1:0', listeners: [{ name: 'x', listen: '127.0.0.1:0' }, { name: 'y', listen: '127.0.0.2:8443' }, { name: 'z', listen: '[::1]:8443' }] })), []);
});

test('listener names: unique, not main, and every match.listener names one', () => {
  assert.match(problems(base({ listeners: [{ name: 'x', listen: '127.0.0.1:1' }, { name: 'x', listen: '127.0.0.1:2' }] })).join('\n'), /listeners\[1\]\.name: "x" is the name of another listener/);
  assert.match(problems(base({ listeners: [{ name: 'main', listen: '127.0.0.1:1' }] })).join('\n'), /listeners\[0\]\.name: "main" is the name of `listen`/);
  assert.deepEqual(problems(base({ routes: [{ upstream: 'a', match: { listener: 'mian' } }] })), ['routes[0].match.listener: no listener named "mian" (known: main)']);
});

test('one default route per listener; a route naming no listener must serve one', () => {
  const listeners = [{ name: 'x', listen: '127.0.0.1:1' }];
  assert.deepEqual(problems(base({ listeners, routes: [{ upstream: 'a' }, { upstream: 'b', match: { listener: 'x' } }] })), []);
  assert.deepEqual(problems(base({ listeners, routes: [{ upstream: 'a', match: { listener: 'x' } }, { upstream: 'b', match: { listener: 'x' } }] })), [
    'routes: more than one route for listener "x" has no other match; only one default route per listener is allowed',
  ]);
  assert.deepEqual(problems(base({ listeners, routes: [{ upstream: 'a', match: { listener: 'x' } }, { upstream: 'b', match: { listener: 'main' } }, { upstream: 'pg', match: { sni: 'db.example.com' } }] })), [
    'routes[2]: serves no listener (every listener is named by other routes\' match.listener); add match.listener or remove the route',
  ]);
});

test('the router: a named listener has only its routes, others the unnamed ones, and a listener the config lacks none', () => {
  const c = parse(base({
    listeners: [{ name: 'x', listen: '127.0.0.1:1' }, { name: 'y', listen: '127.0.0.1:2' }],
    routes: [{ upstream: 'a' }, { upstream: 'b', match: { listener: 'x' } }, { upstream: 'pg', match: { listener: 'x', sni: 'db.example.com' } }],
  }));
  const r = new Router(c.routes, listenersOf(c).map((l) => l.name));
  assert.equal(r.forConnection(undefined)!.primary.upstream, 'a');
  assert.equal(r.forConnection('db.example.com', 'main')!.primary.upstream, 'a', 'an sni route of listener x is not main\'s');
  assert.equal(r.forConnection(undefined, 'x')!.primary.upstream, 'b');
  assert.equal(r.forConnection('db.example.com', 'x')!.primary.upstream, 'pg');
  assert.equal(r.forConnection(undefined, 'y')!.primary.upstream, 'a', 'y is named by no route');
  assert.equal(r.forConnection(undefined, 'gone'), undefined, 'a listener a reload removed has no route');
});

test('a reload adds and removes listeners without a restart, named in the summary', () => {
  const one = parse(base({ listeners: [{ name: 'x', listen: '127.0.0.1:1' }] }));
  const two = parse(base({ listeners: [{ name: 'y', listen: '127.0.0.1:2', starttls: 'postgres' }] }));
  const ch = configChanges(one, two);
  assert.deepEqual(ch.restartRequired, []);
  assert.deepEqual(ch.listeners, { added: ['y (127.0.0.1:2, starttls postgres)'], removed: ['x (127.0.0.1:1)'] });
  assert.equal(summarizeChanges(ch), 'listeners added: y (127.0.0.1:2, starttls postgres); listeners removed: x (127.0.0.1:1)');
  assert.deepEqual(configChanges(one, parse(base({ listen: '0.0.0.0:9443', listeners: [{ name: 'x', listen: '127.0.0.1:1' }] }))).restartRequired, ['listen']);
});

test('a server-first listener has exactly one route, in connection mode, without sni, to an upstream of its protocol', () => {
  const maria = { servers: ['127.0.0.1:3306'], ca: 'b.crt', starttls: 'mysql' };
  const withMaria = (listeners: unknown[], routes: unknown[], upstreams: Record<string, unknown> = {}) =>
    problems(base({ listeners, routes, upstreams: { ...base({}).upstreams, maria, ...upstreams } }));
  const mysql = [{ name: 'mysql', listen: '127.0.0.1:3306', starttls: 'mysql' }];
  assert.deepEqual(withMaria(mysql, [{ upstream: 'a' }, { upstream: 'maria', match: { listener: 'mysql' } }]), []);
  assert.deepEqual(withMaria(mysql, [{ upstream: 'a' }, { upstream: 'maria', match: { listener: 'mysql' } }, { upstream: 'maria', match: { listener: 'mysql', sni: 'db.example.com' } }]), [
    'listeners[0]: starttls mysql needs exactly one route (the server speaks first, so the upstream is chosen before the client says anything); 2 routes serve it (give it one route with match.listener: mysql)',
  ]);
  // named by no route, it is served by the routes that name none: here one, to a TLS-first upstream
  assert.deepEqual(withMaria(mysql, [{ upstream: 'a' }]), [
    'upstreams.a.starttls: listener "mysql" relays the mysql server\'s greeting, so its upstream needs starttls: mysql (it has none)',
  ]);
  assert.match(withMaria(mysql, [{ upstream: 'maria', match: { listener: 'mysql', sni: 'db.example.com' } }]).join('\n'), /routes\[0\]\.match\.sni: listener "mysql" \(starttls mysql\) picks its route before the client's TLS handshake/);
  assert.match(withMaria(mysql, [{ upstream: 'a', match: { listener: 'mysql' } }]).join('\n'), /upstreams\.a\.starttls: listener "mysql" relays the mysql server's greeting, so its upstream needs starttls: mysql \(it has none\)/);
  assert.match(withMaria([], [{ upstream: 'maria' }]).join('\n'), /routes\[0\]: upstream maria \(starttls mysql\) speaks first; route to it only from a listener with starttls: mysql \(match\.listener\), not from main/);
  assert.match(withMaria(mysql, [{ upstream: 'a' }, { upstream: 'maria', match: { listener: 'mysql' } }], { maria: { ...maria, health: { type: 'http' } } }).join('\n'), /upstreams\.maria\.health\.type: http checks need an HTTP server; mysql speaks its own protocol/);
  assert.match(withMaria([{ name: 'n', listen: '127.0.0.1:4222', starttls: 'nats' }], [{ upstream: 'a' }, { upstream: 'maria', match: { listener: 'n' } }]).join('\n'), /upstreams\.maria\.starttls: listener "n" relays the nats server's greeting, so its upstream needs starttls: nats \(it has mysql\)/);
});
