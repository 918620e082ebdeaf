export { createLogger, silentLogger, REDACT_PATHS, type Logger, type LoggerOptions } from './logger.js';
export { onReopen, reopenFiles, type ReopenFn, type ReopenResult } from './reopen.js';
export {
  connectionChannel, requestChannel, upstreamConnectChannel, upstreamHealthChannel, handshakeFailedChannel, auditWriteFailureChannel, connectionRefusedChannel,
  type ConnectionEvent, type ConnectionRefusedEvent, type RequestEvent, type UpstreamConnectEvent, type UpstreamHealthEvent, type HandshakeFailedEvent, type AuditWriteFailureEvent,
} from './channels.js';
export type { ProxyMetrics, MetricsSources, MetricsJson } from './metrics.js';
export { loadMetrics, aggregateMetrics, auditMetricsJson, METRICS_CONTENT_TYPE } from './metrics-loader.js';
export { caCertificates, commonName, type CaKind, type CaCertificateExpiry } from './certificate-expiry.js';
export { startAdminServer, type Readiness, type ReloadOutcome, type AdminHandlers, type AdminServerOptions, type RunningAdminServer } from './admin-server.js';
export { ADMIN_REQUEST_HEADER, adminGuard, adminHostAccepts, type AdminGuard } from './admin-guard.js';
export {
  AuditLog, subscribeAudit, verifyAuditFile, verifyAuditLines, lastLine, auditEventOfConnection, auditEventOfRequest, AUDIT_GENESIS, AUDIT_BUFFER_BYTES,
  type AuditEvent, type AuditLogOptions, type AuditVerifyResult,
} from './audit-log.js';
