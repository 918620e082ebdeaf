/**
 * countersign as a library: run the proxy from a config, or use its parts.
 * Backends import `countersign/backend` instead, which pulls none of this.
 */
export { startProxy, handshakeChannel, type ProxyOptions, type RunningProxy } from './proxy.js';
export { loadConfig, parseConfigText, parseConfigObject, ConfigError, configSchema, DEFAULTS, type Config, type LoadedConfig } from './config/index.js';
export {
  DelegationMinter, DelegatedCredentials, mintChannel, DELEGATION_OID, decodeDelegationExtension, encodeDelegationExtension,
  type DelegationMinterOptions, type DelegationExtension, type MintEvent,
} from './delegation/index.js';
export { describeCertificate, identityOf, loadKeyMaterial, loadSigningCa, type CertificateInfo, type KeyMaterial } from './pki/index.js';
export { issueCertificate, generateDevPki, writeDevPki, type IssuedCertificate, type DevPki } from './pki/dev/index.js';
export { createLogger, type Logger } from './observe/index.js';
export { CountersignError, isCountersignError, ERROR_CODES, type ErrorCode } from './errors.js';
