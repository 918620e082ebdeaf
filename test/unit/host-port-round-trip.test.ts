import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostPort, parseHostPort } from '../../src/config/index.js';

test('formatHostPort writes what parseHostPort reads back, an IPv6 host in brackets', () => {
  for (const text of ['127.0.0.1:8443', '[::1]:8443', '[2001:db8::7]:5432', 'kes.internal:7373', 'localhost:0']) {
    const hp = parseHostPort(text);
    assert.ok(hp, text);
    assert.equal(formatHostPort(hp), text);
    assert.deepEqual(parseHostPort(formatHostPort(hp)), hp);
  }
  assert.equal(formatHostPort({ host: '::1', port: 443 }), '[::1]:443');
  assert.equal(formatHostPort({ host: '::ffff:127.0.0.1', port: 80 }), '[::ffff:127.0.0.1]:80');
});
