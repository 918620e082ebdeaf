/**
 * The connect race alone (forward/connect-race.ts, RFC 8305 style): which
 * attempt starts when, who wins, what happens to the losers, and the per-server
 * bookkeeping (`pending`, `pendingSince`) that makes a stalled server look busy.
 * The attempts are promises the test settles by hand (a unit test of one
 * function); upstream-cluster.test.ts races real TLS servers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { isStalled, raceConnect, type RaceServer } from '../../src/forward/connect-race.js';
import { deferred, withTimeout } from '../helpers/wait.js';

/** What the race does with a socket: keeps the winner's, destroys a late one's. */
interface StandInSocket { name: string; destroyed: boolean; destroy(): void }
const socketOf = (name: string): StandInSocket => ({ name, destroyed: false, destroy() { this.destroyed = true; } });

/** Servers whose attempts the test settles: `started` says which began, in order. */
function servers(...names: string[]) {
  const all = names.map((address): RaceServer => ({ address, failedUntil: 0 }));
  const attempts = new Map<string, { socket: (s: StandInSocket) => void; fail: (err: Error) => void }>();
  const started: string[] = [];
  const startedNext = new Map<string, ReturnType<typeof deferred>>(names.map((n) => [n, deferred()]));
  const outcomes: string[] = [];
  const race = (raceDelayMs: number) => raceConnect<RaceServer>({
    pick: (exclude) => all.find((s) => !exclude.has(s)),
    attempt: (s) => new Promise<TLSSocket>((resolve, reject) => {
      started.push(s.address);
      attempts.set(s.address, { socket: (sock) => resolve(sock as unknown as TLSSocket), fail: reject });
      startedNext.get(s.address)!.resolve(undefined);
    }),
    raceDelayMs,
    failed: (s, err) => outcomes.push(`${s.address} failed: ${err.message}`),
    succeeded: (s) => outcomes.push(`${s.address} ok`),
  });
  return {
    all, started, outcomes, race,
    /** resolves once `name`'s attempt has begun; rejects if it has not within `withinMs` */
    starts: (name: string, withinMs = 5_000) => withTimeout(startedNext.get(name)!.promise, `${name}'s attempt to start`, withinMs),
    answer: (name: string, socket = socketOf(name)) => { attempts.get(name)!.socket(socket); return socket; },
    fail: (name: string, message = 'refused') => attempts.get(name)!.fail(new Error(message)),
  };
}

describe('connect race', () => {
  it('the first server that answers within the race delay is the only one tried', async () => {
    const s = servers('a', 'b');
    const racing = s.race(60_000);
    await s.starts('a');
    s.answer('a');
    const won = await racing;
    assert.equal(won.server.address, 'a');
    assert.deepEqual(s.started, ['a']);
    assert.deepEqual(s.outcomes, ['a ok']);
  });

  it('a server still silent after the race delay gets company; the first to answer wins and a late answer is closed', async () => {
    const s = servers('a', 'b');
    const t0 = performance.now();
    const racing = s.race(100);
    await s.starts('a');
    assert.deepEqual(s.started, ['a'], 'b waits for the race delay');
    await s.starts('b');
    assert.ok(performance.now() - t0 >= 95, `b started after the race delay, not before (${Math.round(performance.now() - t0)} ms)`);
    const fromB = s.answer('b');
    const won = await racing;
    assert.equal(won.server.address, 'b');
    assert.equal(fromB.destroyed, false, 'the winner\'s socket is handed over');
    const lateFromA = s.answer('a');
    await new Promise((r) => setImmediate(r)); // the late answer's then-callback has run
    assert.equal(lateFromA.destroyed, true, 'a late answer is closed, not leaked');
    assert.deepEqual(s.outcomes, ['b ok', 'a ok'], 'the late server answered: it counts as up');
  });

  it('a failure starts the next server at once, without waiting out the race delay', async () => {
    const s = servers('a', 'b');
    const racing = s.race(60_000);
    await s.starts('a');
    s.fail('a', 'connection refused');
    await s.starts('b', 1_000); // not after the 60 s race delay
    s.answer('b');
    assert.equal((await racing).server.address, 'b');
    assert.deepEqual(s.outcomes, ['a failed: connection refused', 'b ok']);
  });

  it('rejects with the last error once every server failed, each tried once', async () => {
    const s = servers('a', 'b', 'c');
    const racing = s.race(60_000);
    for (const name of ['a', 'b', 'c']) { await s.starts(name, 1_000); s.fail(name, `${name} refused`); }
    await assert.rejects(racing, /c refused/);
    assert.deepEqual(s.started, ['a', 'b', 'c']);
  });

  it('waits for a still-running attempt before giving up: no rejection while one may yet answer', async () => {
    const s = servers('a', 'b');
    const racing = s.race(50);
    await s.starts('a');
    await s.starts('b'); // after the race delay
    s.fail('b', 'b refused');
    let settled = false;
    racing.then(() => { settled = true; }, () => { settled = true; });
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'a is still connecting');
    s.answer('a');
    assert.equal((await racing).server.address, 'a');
  });

  it('counts a pending connect on its server while it runs (a stalled server looks busy) and clears it when it settles', async () => {
    const s = servers('a', 'b');
    const [a] = s.all;
    const racing = s.race(100);
    await s.starts('a');
    assert.equal(a.pending, 1);
    assert.ok(a.pendingSince !== undefined);
    assert.equal(isStalled(a, 100, a.pendingSince! + 50), false, 'not yet: within the race delay');
    assert.equal(isStalled(a, 100, a.pendingSince! + 100), true, 'pending as long as the race delay: busy');
    await s.starts('b');
    s.answer('b');
    await racing;
    assert.equal(a.pending, 1, 'a is still connecting after b won');
    s.fail('a');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(s.all.map((x) => [x.address, x.pending, x.pendingSince]), [['a', 0, undefined], ['b', 0, undefined]], 'every count back to zero');
    assert.equal(isStalled(a, 100), false);
  });

  it('with raceDelayMs 0 there is no race: the next server starts only after a failure', async () => {
    const s = servers('a', 'b');
    const racing = s.race(0);
    await s.starts('a');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(s.started, ['a'], 'no second attempt while a connects');
    s.fail('a');
    await s.starts('b');
    s.answer('b');
    assert.equal((await racing).server.address, 'b');
  });
});
