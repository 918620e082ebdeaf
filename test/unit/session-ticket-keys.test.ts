/**
 * The key-file → Node mapping documented in src/edge/session-ticket-keys.ts:
 * 80-byte nginx keys (name | HMAC 32 | AES 32) give name | HMAC[0..16] |
 * AES[0..16]; 48-byte nginx keys (name | AES | HMAC) are reordered to Node's
 * name | HMAC | AES; other sizes are ERR_TICKET_KEY.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeTicketKeys } from '../../src/edge/session-ticket-keys.js';
import { isCountersignError } from '../../src/errors.js';

const bytes = (n: number, from: number) => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) & 0xff));

test('an 80-byte nginx key maps to its name, the first half of its HMAC secret and of its AES key', () => {
  const name = bytes(16, 0), hmac = bytes(32, 100), aes = bytes(32, 200);
  assert.deepEqual(nodeTicketKeys(Buffer.concat([name, hmac, aes])), Buffer.concat([name, hmac.subarray(0, 16), aes.subarray(0, 16)]));
});

test('a 48-byte nginx key (name | AES | HMAC) is reordered to Node\'s name | HMAC | AES', () => {
  const name = bytes(16, 0), aes = bytes(16, 50), hmac = bytes(16, 150);
  assert.deepEqual(nodeTicketKeys(Buffer.concat([name, aes, hmac])), Buffer.concat([name, hmac, aes]));
});

test('any other size is ERR_TICKET_KEY naming the size', () => {
  for (const n of [0, 32, 64, 81, 160]) {
    assert.throws(() => nodeTicketKeys(Buffer.alloc(n)), (e: unknown) => isCountersignError(e, 'ERR_TICKET_KEY') && (e as Error).message.includes(`not ${n}`));
  }
});
