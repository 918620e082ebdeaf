import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, CountersignError } from '../../src/errors.js';
import { REPO_ROOT } from '../helpers/proxy-process.js';

test('docs/errors.md lists exactly the codes in ERROR_CODES', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs/errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `(ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(documented, Object.keys(ERROR_CODES).sort());
});

test('a CountersignError carries its code, message and cause', () => {
  const cause = new Error('inner');
  const e = new CountersignError('ERR_KEY_MISMATCH', 'delegation.ca.key: key does not match', { cause });
  assert.equal(e.code, 'ERR_KEY_MISMATCH');
  assert.equal(e.name, 'CountersignError');
  assert.equal(e.cause, cause);
  assert.ok(e instanceof Error);
});
