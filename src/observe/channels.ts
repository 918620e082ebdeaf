/**
 * Named diagnostics channels on the hot path. Publishing costs nothing while
 * no one subscribes (check `hasSubscribers` before building a message); the
 * metrics module and tests subscribe. `countersign:edge:handshake` lives in
 * proxy.ts and `countersign:delegation:mint` in the delegation minter.
 */
import { channel } from 'node:diagnostics_channel';

/** a client connection ended (or was refused before forwarding) */
export interface ConnectionEvent {
  /** the route's upstream name; '' when no route matched */
  route: string;
  /** the listener it came in on (`main` for `listen`) */
  listener?: string;
  mode: 'connection' | 'http';
  outcome: string;
  reason?: string;
  bytesIn: number;
  bytesOut: number;
  /** the rest is what the audit log records (optional for publishers that do not know it) */
  conn?: number;
  remoteAddress?: string;
  identity?: string;
  subject?: string;
  /** false when `subject` is only what the client's certificate claims (mode any, no configured CA vouched for it); absent otherwise */
  namesVouched?: false;
  sni?: string;
  /** the upstream cluster and server that served the connection */
  upstream?: string;
  server?: string;
  /** serial of the minted certificate presented upstream */
  serial?: string;
  /** the access rule that refused the client */
  rule?: string;
  durationMs?: number;
}
export const connectionChannel = channel('countersign:forward:connection');

/** an http-mode request was answered */
export interface RequestEvent {
  route: string; status: number; outcome: string; durationMs: number;
  /** the rest is what the audit log records */
  conn?: number; remoteAddress?: string; identity?: string; subject?: string;
  method?: string; path?: string; upstream?: string; serial?: string; reason?: string; rule?: string;
  /** the request's Content-Length, when it had one */
  bytesIn?: number;
  /** response body bytes relayed to the client */
  bytesOut?: number;
}
export const requestChannel = channel('countersign:forward:request');

/** one upstream TLS connection attempt (connect + handshake) */
export interface UpstreamConnectEvent { upstream: string; server: string; ok: boolean; durationMs: number }
export const upstreamConnectChannel = channel('countersign:upstream:connect');

/** an upstream server's active-health state changed */
export interface UpstreamHealthEvent { upstream: string; server: string; healthy: boolean; reason?: string }
export const upstreamHealthChannel = channel('countersign:upstream:health');

/** a TLS handshake failed before any client certificate could be judged */
export interface HandshakeFailedEvent { reason: string; listener?: string }
export const handshakeFailedChannel = channel('countersign:edge:handshake-failed');

/** the audit log could not write a record (published by the audit module) */
export interface AuditWriteFailureEvent { reason?: string }
export const auditWriteFailureChannel = channel('countersign:audit:write-failure');

/** a client connection was closed on arrival, before any TLS: a limit was reached (`limits.maxConnections`) */
export interface ConnectionRefusedEvent { reason: 'limit'; remoteAddress?: string }
export const connectionRefusedChannel = channel('countersign:edge:connection-refused');
