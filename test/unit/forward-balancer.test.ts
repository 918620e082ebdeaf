/**
 * The balancer's policies, on plain objects: round-robin cycles, least-connections
 * takes the idlest, identity-hash keeps each identity on one server and, when a
 * server is added, moves only identities to the new one (rendezvous hashing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Balancer, rendezvous } from '../../src/forward/balancer.js';

const servers = (n: number) => Array.from({ length: n }, (_, i) => ({ address: `10.0.0.${i + 1}:7373`, active: 0 }));
const identities = Array.from({ length: 600 }, () => randomBytes(32).toString('hex'));

test('round-robin cycles through the servers', () => {
  const b = new Balancer('round-robin');
  const s = servers(3);
  assert.deepEqual(Array.from({ length: 6 }, () => b.pick(s).address), [...s, ...s].map((x) => x.address));
});

test('least-connections takes the server with the fewest open connections', () => {
  const b = new Balancer('least-connections');
  const s = servers(3);
  s[0].active = 4; s[1].active = 1; s[2].active = 2;
  assert.equal(b.pick(s), s[1]);
});

test('identity-hash: the same identity always gets the same server; identities spread over all', () => {
  const b = new Balancer('identity-hash');
  const s = servers(3);
  const counts = new Map<string, number>();
  for (const id of identities) {
    const first = b.pick(s, id);
    assert.equal(b.pick(s, id), first);
    counts.set(first.address, (counts.get(first.address) ?? 0) + 1);
  }
  assert.equal(counts.size, 3);
  for (const c of counts.values()) assert.ok(c > 600 / 3 / 2, `roughly even: ${[...counts.values()].join(', ')}`);
});

test('identity-hash: a server added takes about 1/N of the identities and moves no other', () => {
  const before = servers(3);
  const after = [...before, { address: '10.0.0.9:7373', active: 0 }];
  let moved = 0;
  for (const id of identities) {
    const a = rendezvous(before, id).address;
    const b = rendezvous(after, id).address;
    if (a !== b) { moved++; assert.equal(b, '10.0.0.9:7373', 'an identity only ever moves to the new server'); }
  }
  assert.ok(moved > 600 / 4 / 2 && moved < 600 / 4 * 2, `about a quarter moved: ${moved}`);
});

test('identity-hash: when an identity\'s server leaves, only its identities move', () => {
  const all = servers(4);
  const without = all.filter((s) => s.address !== all[2].address);
  for (const id of identities) {
    const a = rendezvous(all, id).address;
    if (a !== all[2].address) assert.equal(rendezvous(without, id).address, a);
  }
});

test('identity-hash without an identity (anonymous) falls back to round-robin', () => {
  const b = new Balancer('identity-hash');
  const s = servers(2);
  assert.notEqual(b.pick(s).address, b.pick(s).address);
});
