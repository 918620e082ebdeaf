/**
 * Picking one server of a cluster, the same way in connection and http mode:
 * `round-robin`, `least-connections`, or `identity-hash` — rendezvous
 * (highest-random-weight) hashing of the client identity with each server's
 * address, so an identity keeps its server while that server is eligible, and
 * a server added or removed moves only the identities it wins or held
 * (about 1/N of them).
 *
 * The caller decides which servers are eligible (health, fail timeout); this
 * module only orders them.
 */
import { createHash } from 'node:crypto';

export type BalancePolicy = 'round-robin' | 'least-connections' | 'identity-hash';

export interface Balanceable {
  /** host:port as configured: the rendezvous hash input, stable across restarts */
  readonly address: string;
  /** open connections now */
  active: number;
}

export class Balancer {
  private next = 0;
  constructor(readonly policy: BalancePolicy) {}

  /**
   * One of `pool` (non-empty). `key` is the client identity for identity-hash;
   * without one (an anonymous client) identity-hash falls back to round-robin.
   */
  pick<S extends Balanceable>(pool: readonly S[], key?: string): S {
    if (pool.length === 1) return pool[0];
    if (this.policy === 'least-connections') return pool.reduce((a, b) => (b.active < a.active ? b : a));
    if (this.policy === 'identity-hash' && key) return rendezvous(pool, key);
    const s = pool[this.next % pool.length];
    this.next = (this.next + 1) % 1_000_000;
    return s;
  }
}

/** The server with the highest hash of (key, address); ties (practically never) go to the first. */
export function rendezvous<S extends Balanceable>(pool: readonly S[], key: string): S {
  let best = pool[0];
  let bestScore = -1n;
  for (const s of pool) {
    const score = rendezvousScore(key, s.address);
    if (score > bestScore) { best = s; bestScore = score; }
  }
  return best;
}

export function rendezvousScore(key: string, address: string): bigint {
  return createHash('sha256').update(key).update('\0').update(address).digest().readBigUInt64BE(0);
}
