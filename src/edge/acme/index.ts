export {
  AcmeManager, createAcmeManager,
  type AcmeManagerOptions, type AcmeCertificateStatus, type AcmeChallengeType, type AcmeKeyType,
} from './acme-manager.js';
export { resolveDirectory, parseListen } from './acme-options.js';
export { ACME_DIRECTORIES } from '../../config/index.js';
export { acmeChannel, AcmeEvents, logAcmeEvent, logAcmeEvents, type AcmeEvent, type AcmeEventListener } from './acme-events.js';
export type { CertificateIssuer, IssueRequest } from './certificate-issuer.js';
export { AcmeIssuer, type AcmeIssuerOptions } from './acme-issuer.js';
export { CertificateMaintainer, type CertificateMaintainerOptions, type CertificateKeyType, type MaintainedCertificate } from './certificate-maintainer.js';
export { ChallengeAnswers, type ChallengeAnswersOptions } from './challenge-answers.js';
export { renewalDueAt, retryDelayMs, type RetryPolicy } from './renewal-policy.js';
export { ChallengeRegistry, type ChallengeChange } from './challenge-registry.js';
export { AcmeFollower, shareCertificates, type SharedAcmeCertificate, type AcmeFollowerOptions } from './acme-follower.js';
export { createTlsAlpnResponder, ACME_TLS_ALPN_PROTOCOL, DEFAULT_TLS_ALPN_HANDSHAKE_TIMEOUT_MS, type TlsAlpnResponder, type TlsAlpnResponderOptions } from './tls-alpn-responder.js';
export { startHttpChallengeServer, type HttpChallengeServer, type HttpChallengeServerOptions } from './http-challenge-server.js';
export {
  openAcmeStorage, directoryKey, type AcmeStorage, type AcmeLock, type AcmeStorageSpec, type EtcdStorageSpec, type StoredCertificate, type SharedChallenge,
} from './acme-storage.js';
export { FileAcmeStorage } from './file-acme-storage.js';
