import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, nameMatches, pathUnderPrefix } from '../../src/forward/router.js';
import { parseConfigObject } from '../../src/config/index.js';

const config = (routes: unknown[]) => parseConfigObject({
  edge: { certificates: [{ cert: 'e.crt', key: 'e.key' }], clientAuth: { mode: 'any' } },
  delegation: { ca: { cert: 'd.crt', key: 'd.key' } },
  upstreams: { a: { servers: ['127.0.0.1:1'], ca: 'b.crt' }, b: { servers: ['127.0.0.1:2'], ca: 'b.crt' }, c: { servers: ['127.0.0.1:3'], ca: 'b.crt' } },
  routes,
}, '/tmp');

test('wildcard server names match exactly one label', () => {
  assert.equal(nameMatches('*.example.com', 'kes.example.com'), true);
  assert.equal(nameMatches('*.example.com', 'a.kes.example.com'), false);
  assert.equal(nameMatches('*.example.com', 'example.com'), false);
  assert.equal(nameMatches('KES.example.com', 'kes.EXAMPLE.com'), true);
  assert.equal(nameMatches('kes.example.com', undefined), false);
});

test('an SNI route wins over the default route for its name only', () => {
  const c = config([{ upstream: 'a', match: { sni: 'kes.example.com' } }, { upstream: 'b' }]);
  const r = new Router(c.routes);
  assert.equal(r.forConnection('kes.example.com')!.primary.upstream, 'a');
  assert.equal(r.forConnection('other.example.com')!.primary.upstream, 'b');
  assert.equal(r.forConnection(undefined)!.primary.upstream, 'b');
});

test('without a default route, an unknown name has no route', () => {
  const c = config([{ upstream: 'a', match: { sni: 'kes.example.com' } }]);
  assert.equal(new Router(c.routes).forConnection('x.example.com'), undefined);
});

test('in http mode the longest path prefix wins, and a host match beats none', () => {
  const c = config([
    { upstream: 'a', mode: 'http', match: { pathPrefix: '/v1/' } },
    { upstream: 'b', mode: 'http', match: { pathPrefix: '/v1/key/' } },
    { upstream: 'c', mode: 'http', match: { host: 'admin.example.com', pathPrefix: '/' } },
  ]);
  const r = new Router(c.routes);
  const conn = r.forConnection('kes.example.com')!;
  assert.equal(r.forRequest(conn, 'kes.example.com', '/v1/key/create/x')!.upstream, 'b');
  assert.equal(r.forRequest(conn, 'kes.example.com:8443', '/v1/status')!.upstream, 'a');
  assert.equal(r.forRequest(conn, 'admin.example.com', '/v1/key/create/x')!.upstream, 'c');
  assert.equal(r.forRequest(conn, 'kes.example.com', '/metrics'), undefined);
});

test('a path prefix matches at a segment boundary: /v1/status never admits /v1/statusfoo', () => {
  const c = config([
    { upstream: 'a', mode: 'http', match: { pathPrefix: '/v1/status' }, allow: { identities: ['a'.repeat(64)] } },
    { upstream: 'b', mode: 'http', match: { pathPrefix: '/v1/' } },
  ]);
  const r = new Router(c.routes);
  const conn = r.forConnection(undefined)!;
  // forRequest gets the decoded path without the query (request-target.ts)
  for (const path of ['/v1/status', '/v1/status/', '/v1/status/x']) assert.equal(r.forRequest(conn, undefined, path)!.upstream, 'a', path);
  for (const path of ['/v1/statusfoo', '/v1/status.json', '/v1/status-x', '/v1/status?x']) assert.equal(r.forRequest(conn, undefined, path)!.upstream, 'b', path);
  assert.equal(pathUnderPrefix('/v1/key/x', '/v1/key/'), true);
  assert.equal(pathUnderPrefix('/v1/key', '/v1/key/'), false, 'a prefix ending in / needs it');
  assert.equal(pathUnderPrefix('/anything', '/'), true);
});

test('a Host that names a route bound by SNI is misdirected on a connection made for another name', () => {
  const c = config([
    { upstream: 'a', mode: 'http', match: { sni: 'admin.example.com' } },
    { upstream: 'c', mode: 'http', match: { sni: '*.corp.example' } },
    { upstream: 'b', mode: 'http' },
  ]);
  const r = new Router(c.routes);
  assert.equal(r.misdirected('public.example.com', 'admin.example.com'), true);
  assert.equal(r.misdirected(undefined, 'admin.example.com'), true, 'no SNI at all');
  assert.equal(r.misdirected('admin.example.com', 'admin.example.com'), false);
  assert.equal(r.misdirected('ADMIN.example.com', 'admin.example.com'), false);
  assert.equal(r.misdirected('public.example.com', 'public.example.com'), false, 'a Host no SNI route names');
  assert.equal(r.misdirected('admin.example.com', 'public.example.com'), false, 'the SNI route connection may ask the default routes');
  assert.equal(r.misdirected('a.corp.example', 'b.corp.example'), false, 'one wildcard route serves both names');
  assert.equal(r.misdirected('a.corp.example', 'admin.example.com'), true);
});
