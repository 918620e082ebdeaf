/**
 * The minter a config's `delegation` section describes: what `start` mints
 * with, what `check --connect` probes with, and what `countersign mint` shows —
 * one construction, so the three never differ in CA, limits or extension.
 */
import { readFileSync } from 'node:fs';
import { delegationLimits, type Config } from '../config/index.js';
import { DelegationMinter } from '../delegation/index.js';
import { loadSigningCa } from '../pki/index.js';

/** `keyPoolSize`: keys generated ahead (the minter's default for a proxy; 1 for a single mint). */
export function delegationMinterFor(delegation: NonNullable<Config['delegation']>, opts: { keyPoolSize?: number } = {}): DelegationMinter {
  return new DelegationMinter({
    ca: loadSigningCa({ certPem: readFileSync(delegation.ca.cert), keyPem: readFileSync(delegation.ca.key), what: 'delegation.ca' }),
    ...delegationLimits(delegation),
    embedOriginal: delegation.embedOriginal,
    extensionOid: delegation.extensionOid,
    keyPoolSize: opts.keyPoolSize,
  });
}
