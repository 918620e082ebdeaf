/**
 * The one normal form of a request target and a Host (request-target.ts):
 * RFC 3986 §6.2.2 normalization, refusal of what backends read differently,
 * and properties over random targets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalHost, isIdempotent, normalizeTarget, requestHost } from '../../src/forward/request-target.js';

const ok = (t: string) => {
  const v = normalizeTarget(t);
  assert.ok(v.ok, `${t}: ${!v.ok && v.reason}`);
  return v;
};

test('percent-encoded unreserved characters are decoded, other escapes upper-cased, the query left as sent', () => {
  assert.deepEqual(ok('/v1/key/%64elete/k1'), { ok: true, target: '/v1/key/delete/k1', path: '/v1/key/delete/k1' });
  assert.deepEqual(ok('/v1/key/delet%65/k1'), { ok: true, target: '/v1/key/delete/k1', path: '/v1/key/delete/k1' });
  assert.deepEqual(ok('/v1/%6bey/delete/k1'), { ok: true, target: '/v1/key/delete/k1', path: '/v1/key/delete/k1' });
  assert.deepEqual(ok('/a%7e%2D%5f%41'), { ok: true, target: '/a~-_A', path: '/a~-_A' });
  assert.deepEqual(ok('/a%3bb%20c?x=%2e%2e&y=../z'), { ok: true, target: '/a%3Bb%20c?x=%2e%2e&y=../z', path: '/a;b c' });
  assert.deepEqual(ok('/caf%C3%A9'), { ok: true, target: '/caf%C3%A9', path: '/café' });
  const same = ok('/v1/key/create/my-key?x=1');
  assert.equal(same.target, '/v1/key/create/my-key?x=1');
  assert.equal(ok('/v1/key/').path, '/v1/key/', 'a trailing slash is kept');
});

test('what backends read in different ways is refused', () => {
  for (const bad of [
    '/v1/key/../identity/delete', '/v1/./key', '/v1/key/..', '/v1/%2e%2e/x', '/v1/%2E/x', '/v1/.%2e/x', '/v1/key/%2e',
    '/v1/key%2F..%2Fidentity', '/v1\\..\\x', '/v1/%5c', 'http://evil/v1', 'localhost:443', '',
    '/v1/key%00.txt', '/v1/%252e%252e/x', '/v1/key%252F..%252Fidentity', '/v1/%25252e%25252e/x', '/a%255cb', '/a%2541',
    '/v1/..;/identity', '/v1;jsessionid=1/key', '//v1/key', '/v1//key', '/v1/key/%', '/v1/%zz', '/v1/%4', '/a#frag', '/a b', '/caf\u00e9', '/a\x7f',
    '/%C3%28', '*',
  ]) {
    const v = normalizeTarget(bad);
    assert.equal(v.ok, false, `${JSON.stringify(bad)} accepted as ${JSON.stringify(v)}`);
  }
});

test('Host: lower case, no trailing dot, no default port; not a name is refused', () => {
  assert.equal(canonicalHost('Admin.Example.COM.'), 'admin.example.com');
  assert.equal(canonicalHost('admin.example.com.:443'), 'admin.example.com');
  assert.equal(canonicalHost('admin.example.com:8443'), 'admin.example.com:8443');
  assert.equal(canonicalHost('[::1]:443'), '[::1]');
  assert.equal(canonicalHost('[::1]:8443'), '[::1]:8443');
  assert.equal(canonicalHost('127.0.0.1:08443'), '127.0.0.1:8443');
  for (const bad of ['', 'a..b', 'admin.example.com..', 'a b', 'a/b', 'a:', 'a:99999', 'a:x', '[::1', '[zz]', 'a@b', 'a%2eb']) assert.equal(canonicalHost(bad), undefined, bad);
});

test('one Host, the same as :authority when both come', () => {
  assert.deepEqual(requestHost(['Host', 'A.example.']), { ok: true, host: 'a.example' });
  assert.deepEqual(requestHost([]), { ok: true, host: undefined });
  assert.equal(requestHost(['Host', 'a', 'host', 'b']).ok, false);
  assert.deepEqual(requestHost(['host', 'a.example:443'], 'A.example'), { ok: true, host: 'a.example' });
  assert.equal(requestHost(['host', 'b.example'], 'a.example').ok, false);
});

test('idempotent methods are those of RFC 9110 §9.2.2', () => {
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) assert.equal(isIdempotent(m), true, m);
  for (const m of ['POST', 'PATCH', 'CONNECT', 'LOCK']) assert.equal(isIdempotent(m), false, m);
});

const piece = fc.constantFrom('a', 'b', 'key', '.', '..', '/', ';', '%2e', '%2E', '%2f', '%25', '%252e', '%00', '%5c', '\\', '%61', '%41', '%3b', '%3B', '%20', '%7e', '%', '%zz', '?', '#');

test('property: an accepted target has no dot or empty segment, no ; and nothing encoded twice, decoded once or twice', () => {
  const decode = (s: string) => { try { return decodeURIComponent(s); } catch { return s; } };
  fc.assert(fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
    const v = normalizeTarget('/' + parts.join(''));
    if (!v.ok) return true;
    const path = v.target.split('?')[0];
    for (const p of [path, v.path, decode(v.path)]) {
      if (p.includes('\0') || p.includes('\\')) return false;
      if (p.slice(1).split('/').slice(0, -1).some((seg) => seg === '' || seg === '.' || seg === '..')) return false;
      if (p.split('/').some((seg) => seg === '.' || seg === '..')) return false;
    }
    return !path.includes(';') && decode(path) === v.path && normalizeTarget(v.target).ok;
  }), { numRuns: 5000 });
});

test('property: normalizing is idempotent and honest paths are never refused', () => {
  const segment = fc.stringMatching(/^[A-Za-z0-9_~-]{1,8}$/).filter((s) => s !== '.' && s !== '..');
  fc.assert(fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.boolean(), (segs, slash) => {
    const t = '/' + segs.join('/') + (slash ? '/' : '');
    const v = normalizeTarget(t);
    return v.ok && v.target === t && v.path === t;
  }));
  fc.assert(fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
    const v = normalizeTarget('/' + parts.join(''));
    if (!v.ok) return true;
    const again = normalizeTarget(v.target);
    return again.ok && again.target === v.target && again.path === v.path;
  }), { numRuns: 3000 });
});
