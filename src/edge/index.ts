/**
 * edge/: the front door for the rest of the proxy. The listener, client
 * verification once per connection, and the server certificates chosen by SNI
 * (files with hot reload, ACME). ACME itself is ./acme/index.ts, loaded only
 * when a config asks for it.
 */
export { Admission, handshakeChannel, type AdmittedConnection, type AdmissionPolicy, type AdmissionOptions } from './admission.js';
export { EdgeListener, type EdgeListenerOptions, type ServerContexts } from './edge-listener.js';
export { ListenerSet, type ListenerSetOptions, type ListenerStatus, type PreparedListeners } from './listener-set.js';
export { ConnectionLimitLog, openFileLimit, type ConnectionLimitLogOptions } from './connection-limit.js';
export { ClientVerifier, PARSED_CERTIFICATE_BYTES, type CacheStats, type Admitted, type ClientAuthMode, type ClientVerdict, type ClientVerifierOptions, type RefusalReason } from './client-verifier.js';
export { createEdgeCertificates, acmeFollowerFor, acmeManagerFor, acmeStorageFor, type EdgeAcme, type EdgeCertificates, type EdgeCertificatesOptions } from './edge-certificates.js';
export {
  createCertificateStore, certificateStoreChannel,
  type CertificateStore, type CertificateStoreOptions, type CertificateSource, type SourceCertificate,
  type CertificateStoreEvent, type ServerCertificateStatus, type TrustStatus, type ReloadResult,
} from './certificate-store.js';
export { FileWatch } from './file-watch.js';
export { sentIntermediates, peerChainDer, type ClientPath, type ClientTrust } from './client-trust.js';
export { loadTrustFiles } from './trust-files.js';
export { SeenIntermediates } from './seen-intermediates.js';
export { buildProxyHeader, type Endpoint } from './proxy-protocol.js';
export { AccessRules, compileAccessRule, type AccessRule } from './access-rules.js';
export * as mysqlWire from './mysql-wire.js';
export * as natsWire from './nats-wire.js';
export { serverFirstOf, serverFirstError, type ServerFirstProtocol, type ServerFirstUpstream, type ServerFirstHandover } from './server-first.js';
export { crlDers, crlWork, crlSourceStatus, parseCrl, RevocationSources, type RevocationHooks, type RevocationSourceStatus } from './revocation/index.js';
