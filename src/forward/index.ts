/**
 * forward/: the front door for the rest of the proxy. Routing, upstream
 * clusters, the connection (L4) and http (L7) forwarders, and the identity
 * headers a header-mode route sends.
 */
export type { BindUpstream, ClientConnection, UpstreamBinding } from './client-connection.js';
export { forwardConnection, type ConnectionOutcome, type ForwardConnectionOptions } from './connection-forwarder.js';
export { HttpEngine, type HttpEngineOptions, type RequestRouting, type UpstreamPoolStats } from './http/index.js';
export { IdentityBinder, type CredentialSource, type IdentityBinderOptions } from './identity-binder.js';
export {
  encodeIdentityHeaders, identityHeaderEncoder, DEFAULT_IDENTITY_HEADER, IDENTITY_HEADER_NAMES,
  type IdentityHeaderFormat, type IdentityHeaderOptions, type PeerCertificateForHeaders,
} from './identity-headers.js';
export { Router, type ConnectionRoutes } from './router.js';
export { UpstreamCluster, type UpstreamClusterOptions, type UpstreamServer } from './upstream-cluster.js';
export { createUpstreamProtocols, type UpstreamProtocols } from './upstream-protocols.js';
export { HealthChecker, type HealthCheckOptions, type HealthCheckerOptions } from './health-checker.js';
export { ClientConnections, handshakeChannel, type ClientConnectionsOptions, type ConnectionRouting } from './client-connections.js';
export {
  diagnosisFields, findDiagnosis, presentedIdentity, UpstreamHandshakeError,
  type HandshakeDiagnosis, type HandshakeFailureKind, type PresentedIdentity,
} from './upstream-diagnosis.js';
export { checkUpstream, type CheckIdentity, type CheckUpstreamOptions, type ServerCheck } from './upstream-check.js';
