/**
 * The event-loop delay sampler records how late its timer ran: about nothing
 * while the loop is free, and the length of a synchronous block when one
 * holds the loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventLoopDelaySampler } from '../../src/observe/event-loop-delay.js';
import { waitFor } from '../helpers/wait.js';

test('a 120 ms synchronous block is recorded as a delay of about 120 ms; free ticks as small ones', async () => {
  const seen: number[] = [];
  const sampler = new EventLoopDelaySampler({ observe: (s) => seen.push(s) }, 10);
  sampler.start();
  await waitFor(() => seen.length >= 5, 'five ticks');
  const before = seen.length;
  const until = performance.now() + 120;
  while (performance.now() < until) { /* hold the loop */ }
  await waitFor(() => seen.length > before, 'the tick after the block');
  sampler.stop();
  const blocked = Math.max(...seen.slice(before));
  assert.ok(blocked >= 0.1 && blocked < 1, `the tick after the block was ${blocked * 1000} ms late`);
  assert.ok(seen.every((s) => s >= 0), 'never negative');
  const n = seen.length;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.length, n, 'nothing recorded after stop()');
});
