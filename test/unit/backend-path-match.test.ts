import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCountersignError } from '../../src/errors.js';
import { compilePathPattern, pathMatch } from '../../src/backend/path-match.js';

// Go's src/path/match_test.go table: KES matches policy patterns with path.Match.
const MATCHES: Array<[pattern: string, s: string, match: boolean]> = [
  ['abc', 'abc', true], ['*', 'abc', true], ['*c', 'abc', true], ['a*', 'a', true], ['a*', 'abc', true],
  ['a*', 'ab/c', false], ['a*/b', 'abc/b', true], ['a*/b', 'a/c/b', false],
  ['a*b*c*d*e*/f', 'axbxcxdxe/f', true], ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false], ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true], ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  ['ab[c]', 'abc', true], ['ab[b-d]', 'abc', true], ['ab[e-g]', 'abc', false],
  ['ab[^c]', 'abc', false], ['ab[^b-d]', 'abc', false], ['ab[^e-g]', 'abc', true],
  ['a\\*b', 'a*b', true], ['a\\*b', 'ab', false],
  ['a?b', 'a☺b', true], ['a[^a]b', 'a☺b', true], ['a???b', 'a☺b', false], ['a[^a][^a][^a]b', 'a☺b', false],
  ['[a-ζ]*', 'α', true], ['*[a-ζ]', 'A', false], ['a?b', 'a/b', false], ['a*b', 'a/b', false],
  ['[\\]a]', ']', true], ['[\\-]', '-', true], ['[x\\-]', 'x', true], ['[x\\-]', '-', true], ['[x\\-]', 'z', false],
  ['[\\-x]', 'x', true], ['[\\-x]', '-', true], ['[\\-x]', 'a', false],
  ['*x', 'xxx', true],
];

const BAD = ['[]a]', '[-]', '[x-]', '[-x]', '\\', '[a-b-c]', '[', '[^', '[^bc', 'a[', 'a/b['];

for (const [pattern, s, match] of MATCHES) {
  test(`path.Match(${JSON.stringify(pattern)}, ${JSON.stringify(s)}) is ${match}`, () => {
    assert.equal(pathMatch(pattern, s), match);
  });
}

test('patterns Go rejects with ErrBadPattern are rejected at compile time with ERR_POLICY_INVALID', () => {
  for (const pattern of BAD) {
    assert.throws(() => compilePathPattern(pattern), (err: unknown) => isCountersignError(err, 'ERR_POLICY_INVALID') && err.message.includes(pattern), pattern);
  }
});

test('KES-style paths: * stays within one segment', () => {
  const m = compilePathPattern('/v1/key/create/my-key-*');
  assert.equal(m('/v1/key/create/my-key-1'), true);
  assert.equal(m('/v1/key/create/my-key-'), true);
  assert.equal(m('/v1/key/create/other'), false);
  assert.equal(m('/v1/key/create/my-key-1/extra'), false);
  assert.equal(compilePathPattern('/v1/*/create/*')('/v1/key/create/x'), true);
  assert.equal(compilePathPattern('/v1/key/*')('/v1/key/create/x'), false);
});

test('a character class matches "/" as in Go (only * and ? stop at a slash)', () => {
  assert.equal(pathMatch('a[^x]b', 'a/b'), true);
  assert.equal(pathMatch('a[/]b', 'a/b'), true);
});

test('an inverted range matches nothing instead of failing to compile', () => {
  assert.equal(pathMatch('[z-a]', 'm'), false);
  assert.equal(pathMatch('[^z-a]', 'm'), true);
});

test('regular-expression characters in a pattern are literal', () => {
  assert.equal(pathMatch('/v1/(x)+.y$', '/v1/(x)+.y$'), true);
  assert.equal(pathMatch('/v1/(x)+.y$', '/v1/xx.y'), false);
});
