export {
  AcmeManager, createAcmeManager, resolveDirectory, parseListen, acmeChannel, ACME_DIRECTORIES,
  DEFAULT_ACME_CHECK_INTERVAL_MS, DEFAULT_ACME_POLL_MIN_MS, DEFAULT_ACME_POLL_MAX_MS,
  DEFAULT_ACME_VALIDATION_TIMEOUT_MS, DEFAULT_ACME_REQUEST_TIMEOUT_MS,
  type AcmeManagerOptions, type AcmeEvent, type AcmeCertificateStatus, type AcmeChallengeType, type AcmeKeyType,
} from './acme-manager.js';
export {
  DEFAULT_RENEWAL_WINDOW_RATIO, DEFAULT_RETRY_MIN_MS, DEFAULT_RETRY_MAX_MS, renewalDueAt, retryDelayMs, type RetryPolicy,
} from './renewal-policy.js';
export { ChallengeRegistry, type ChallengeChange } from './challenge-registry.js';
export { AcmeFollower, shareCertificates, type SharedAcmeCertificate, type AcmeFollowerOptions } from './acme-follower.js';
export { createTlsAlpnResponder, ACME_TLS_ALPN_PROTOCOL, DEFAULT_TLS_ALPN_HANDSHAKE_TIMEOUT_MS, type TlsAlpnResponder, type TlsAlpnResponderOptions } from './tls-alpn-responder.js';
export { startHttpChallengeServer, type HttpChallengeServer, type HttpChallengeServerOptions } from './http-challenge-server.js';
export {
  openAcmeStorage, directoryKey, type AcmeStorage, type AcmeLock, type AcmeStorageSpec, type EtcdStorageSpec, type StoredCertificate, type SharedChallenge,
} from './acme-storage.js';
export { FileAcmeStorage } from './file-acme-storage.js';
