/**
 * forward/: the front door for the rest of the proxy. Routing, upstream
 * clusters, the connection (L4) and http (L7) forwarders, and the identity
 * headers a header-mode route sends.
 */
export type { BindUpstream, ClientConnection, UpstreamBinding } from './client-connection.js';
export { forwardConnection, type ConnectionOutcome, type ForwardConnectionOptions } from './connection-forwarder.js';
export type { HttpEngine, HttpEngineOptions, RequestRouting, UpstreamPoolStats } from './http/index.js';
/**
 * http mode's engine, loaded when a config first has an http-mode route: a
 * proxy with connection-mode routes only never loads node:http2, the parser
 * binding or the pool.
 */
export const loadHttpEngine = () => import('./http/index.js').then((m) => m.HttpEngine);
export { IdentityBinder, type CredentialSource, type IdentityBinderOptions } from './identity-binder.js';
export {
  encodeIdentityHeaders, identityHeaderEncoder, DEFAULT_IDENTITY_HEADER, IDENTITY_HEADER_NAMES,
  type IdentityHeaderFormat, type IdentityHeaderOptions, type PeerCertificateForHeaders,
} from './identity-headers.js';
export { Router, type ConnectionRoutes } from './router.js';
export { UpstreamCluster, upstreamTlsDigest, type UpstreamClusterOptions, type UpstreamServer } from './upstream-cluster.js';
export { readUpstreamFiles, rotatedUpstreamFiles, type UpstreamFiles } from './upstream-files.js';
export { createUpstreamProtocols, type UpstreamProtocols } from './upstream-protocols.js';
export { HealthChecker, type HealthCheckOptions, type HealthCheckerOptions } from './health-checker.js';
export { ClientConnections, type ClientConnectionsOptions, type ConnectionRouting } from './client-connections.js';
export {
  diagnosisFields, findDiagnosis, presentedIdentity, UpstreamHandshakeError,
  type HandshakeDiagnosis, type HandshakeFailureKind, type PresentedIdentity,
} from './upstream-diagnosis.js';
export { checkUpstream, type CheckIdentity, type CheckUpstreamOptions, type ServerCheck } from './upstream-check.js';
export { serverFirstDialer, type ServerFirstDial } from './server-first-dial.js';
