export { DELEGATION_OID, DELEGATION_VERSION, decodeDelegationExtension, encodeDelegationExtension, nameToString, type DelegationExtension } from './extension-codec.js';
export { createCaSigner, type CaSigner } from './ca-signer.js';
export { mintCertificate, neutralSubject, NOT_BEFORE_SKEW_MS, type MintedCertificate, type MintOptions } from './certificate-minter.js';
export { KeyPool, DEFAULT_KEY_POOL_SIZE, type PooledKey } from './key-pool.js';
export {
  DelegationMinter, DelegatedCredentials, RENEW_AFTER_FRACTION, mintChannel,
  type CredentialsRequest, type DelegationMinterOptions, type MinterStats, type MintEvent, type UpstreamContextKey,
} from './delegation-minter.js';
