/**
 * The watchdog of an HTTP/1.1 connection's exchanges (src/forward/http/watchdog.ts):
 * one reusable timer, touched by signs of life, that times out between `ms`
 * and 2 × `ms` after the last one; disarmed, it calls nobody.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Watchdog, Watchdogs } from '../../src/forward/http/watchdog.js';
import { withTimeout } from '../helpers/wait.js';

const MS = 100;

function fired(): { promise: Promise<number>; timed: { timeout(): void } } {
  let resolve!: (at: number) => void;
  const promise = new Promise<number>((r) => { resolve = r; });
  return { promise, timed: { timeout: () => resolve(performance.now()) } };
}

test('armed and left alone, it times out between ms and 2 × ms', async () => {
  const w = new Watchdog(MS);
  const f = fired();
  const armedAt = performance.now();
  w.arm(f.timed);
  const at = await withTimeout(f.promise, 'the timeout');
  assert.ok(at - armedAt >= MS - 5, `fired after ${at - armedAt} ms`);
  assert.ok(at - armedAt < 2 * MS + 500, `fired after ${at - armedAt} ms`);
  w.stop();
});

test('touched, it waits again: the timeout comes at least ms after the last touch', async () => {
  const w = new Watchdog(MS);
  const f = fired();
  w.arm(f.timed);
  let lastTouch = performance.now();
  let touches = 0;
  const toucher = setInterval(() => {
    w.touch();
    lastTouch = performance.now();
    if (++touches === 8) clearInterval(toucher);
  }, MS / 3);
  const at = await withTimeout(f.promise, 'the timeout');
  assert.equal(touches, 8, 'no timeout while it was being touched');
  assert.ok(at - lastTouch >= MS - 5, `fired ${at - lastTouch} ms after the last touch`);
  w.stop();
});

test('disarmed, it calls nobody; armed again for the next exchange, it calls that one', async () => {
  const w = new Watchdog(MS);
  const first = fired();
  let firstCalled = false;
  void first.promise.then(() => { firstCalled = true; });
  w.arm(first.timed);
  w.disarm();
  const second = fired();
  w.arm(second.timed);
  await withTimeout(second.promise, 'the second exchange times out');
  assert.equal(firstCalled, false);
  // and after it fired, a third arm starts it again
  const third = fired();
  w.arm(third.timed);
  await withTimeout(third.promise, 'the third exchange times out');
  assert.equal(firstCalled, false);
  w.stop();
});

test('a pool (HTTP/2 streams) hands a given-back watchdog to the next exchange, disarmed, and it times that one out', async () => {
  const pool = new Watchdogs(MS);
  const a = pool.take();
  const b = pool.take();
  assert.notEqual(a, b, 'exchanges at once get watchdogs of their own');
  const first = fired();
  let firstCalled = false;
  void first.promise.then(() => { firstCalled = true; });
  a.arm(first.timed);
  pool.give(a);
  const again = pool.take();
  assert.equal(again, a, 'the given-back one is reused');
  const second = fired();
  const armedAt = performance.now();
  again.arm(second.timed);
  const at = await withTimeout(second.promise, 'the next exchange times out');
  assert.ok(at - armedAt >= MS - 5, `fired after ${at - armedAt} ms`);
  assert.equal(firstCalled, false, 'the exchange that gave it back is not called');
  pool.give(again);
  pool.give(b);
  pool.stop();
  // stopped: a watchdog given back now is stopped, not kept
  const late = pool.take();
  pool.give(late);
  assert.notEqual(pool.take(), late);
});
