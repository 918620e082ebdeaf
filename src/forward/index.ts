/**
 * forward/: the front door for the rest of the proxy. Routing, upstream
 * clusters, the connection (L4) and http (L7) forwarders, and the identity
 * headers a header-mode route sends.
 */
export type { BindUpstream, ClientConnection, UpstreamBinding } from './client-connection.js';
export { forwardConnection, type ConnectionOutcome, type ForwardConnectionOptions } from './connection-forwarder.js';
export type { HttpForwarder, HttpForwarderOptions, RequestRouting } from './http-forwarder.js';
/**
 * The http forwarder, loaded when a config first has an http-mode route: it
 * brings undici and node:http, ~5 MiB of memory (measured on Node 24) that a
 * proxy with connection-mode routes only never uses.
 */
export const loadHttpForwarder = () => import('./http-forwarder.js').then((m) => m.HttpForwarder);
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
