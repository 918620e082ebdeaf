import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Router, isNormalizedPath, nameMatches, pathUnderPrefix } from '../../src/forward/router.js';
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
  for (const path of ['/v1/status', '/v1/status/', '/v1/status/x', '/v1/status?verbose=1']) assert.equal(r.forRequest(conn, undefined, path)!.upstream, 'a', path);
  for (const path of ['/v1/statusfoo', '/v1/status.json', '/v1/status-x']) assert.equal(r.forRequest(conn, undefined, path)!.upstream, 'b', path);
  assert.equal(pathUnderPrefix('/v1/key/x', '/v1/key/'), true);
  assert.equal(pathUnderPrefix('/v1/key', '/v1/key/'), false, 'a prefix ending in / needs it');
  assert.equal(pathUnderPrefix('/anything', '/'), true);
});

test('paths with dot segments or encoded separators are not normalized', () => {
  for (const ok of ['/', '/v1/key/create/my-key', '/v1/key/list/*?x=../y', '/a.b/c..d', '*']) assert.equal(isNormalizedPath(ok), true, ok);
  for (const bad of ['/v1/key/../identity/delete', '/v1/./key', '/v1/key/..', '/v1/key%2F..%2Fidentity', '/v1/%2e%2e/x', '/v1\\..\\x', 'http://evil/v1', '',
    '/v1/key%00.txt', '/v1/%252e%252e/x', '/v1/key%252F..%252Fidentity', '/v1/%25252e%25252e/x', '/a%255cb']) {
    assert.equal(isNormalizedPath(bad), false, bad);
  }
});

test('property: a path accepted as normalized has no dot segment, NUL or backslash even after decoding it twice', () => {
  const piece = fc.constantFrom('a', '.', '..', '/', '%2e', '%2E', '%2f', '%25', '%252e', '%252f', '%00', '%2500', '%5c', '%255c', '\\', '2e', '25', '%', 'x%41');
  const decode = (s: string) => { try { return decodeURIComponent(s); } catch { return s; } };
  fc.assert(fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
    const path = '/' + parts.join('');
    if (!isNormalizedPath(path)) return true;
    for (const p of [path, decode(path), decode(decode(path))]) {
      if (p.includes('\0') || p.includes('\\')) return false;
      if (p.split('/').some((seg) => seg === '.' || seg === '..')) return false;
    }
    return true;
  }), { numRuns: 5000 });
});
