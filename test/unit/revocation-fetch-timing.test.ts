import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryDelayMs, MIN_DELAY_MS } from '../../src/edge/revocation/fetch-timing.js';

test('the retry delay doubles from MIN_DELAY_MS with each failure in a row and never passes the cap', () => {
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, 3_600_000)), [1, 2, 4, 8, 16].map((x) => x * MIN_DELAY_MS));
  assert.equal(retryDelayMs(12, 60_000), 60_000);
  assert.equal(retryDelayMs(1_000, 3_600_000), 3_600_000, 'a long outage stays at the cap (no overflow to Infinity)');
  assert.equal(retryDelayMs(0, 60_000), MIN_DELAY_MS, 'called before any failure: the shortest wait');
});
