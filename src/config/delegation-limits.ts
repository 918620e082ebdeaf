/**
 * The delegation minter's limits as it takes them (ms, count, bytes), from a
 * validated `delegation` block or from the schema's defaults. The minter has
 * no defaults of its own: they live in the schema (DEFAULTS) only.
 */
import { parseDuration } from './duration.js';
import { DEFAULTS, type Config } from './schema.js';

export interface DelegationLimits {
  /** lifetime cap of a minted certificate, ms (`delegation.ttl`) */
  ttlMs: number;
  /** max cached minted certificates (`delegation.cache`) */
  cacheSize: number;
  /** memory budget of the cache, bytes (`delegation.cacheMemoryMiB`) */
  cacheMemoryBytes: number;
}

/** The limits a validated `delegation` block sets. */
export function delegationLimits(delegation: Pick<NonNullable<Config['delegation']>, 'ttl' | 'cache' | 'cacheMemoryMiB'>): DelegationLimits {
  return {
    ttlMs: delegation.ttl,
    cacheSize: delegation.cache,
    cacheMemoryBytes: Math.round(delegation.cacheMemoryMiB * 1024 * 1024),
  };
}

/** The schema's defaults (1h, 10 000 entries, 64 MiB), for a minter built without a config file (tests, benchmarks). */
export const DEFAULT_DELEGATION_LIMITS: Readonly<DelegationLimits> = Object.freeze(delegationLimits({
  ttl: parseDuration(DEFAULTS.delegationTtl) as number, // a literal the schema's own default parses
  cache: DEFAULTS.delegationCache,
  cacheMemoryMiB: DEFAULTS.delegationCacheMemoryMiB,
}));
