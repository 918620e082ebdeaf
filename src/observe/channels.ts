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
  mode: 'connection' | 'http';
  outcome: string;
  reason?: string;
  bytesIn: number;
  bytesOut: number;
}
export const connectionChannel = channel('countersign:forward:connection');

/** an http-mode request was answered */
export interface RequestEvent { route: string; status: number; outcome: string; durationMs: number }
export const requestChannel = channel('countersign:forward:request');

/** one upstream TLS connection attempt (connect + handshake) */
export interface UpstreamConnectEvent { upstream: string; server: string; ok: boolean; durationMs: number }
export const upstreamConnectChannel = channel('countersign:upstream:connect');

/** an upstream server's active-health state changed */
export interface UpstreamHealthEvent { upstream: string; server: string; healthy: boolean; reason?: string }
export const upstreamHealthChannel = channel('countersign:upstream:health');

/** a TLS handshake failed before any client certificate could be judged */
export interface HandshakeFailedEvent { reason: string }
export const handshakeFailedChannel = channel('countersign:edge:handshake-failed');

/** the audit log could not write a record (published by the audit module) */
export interface AuditWriteFailureEvent { reason?: string }
export const auditWriteFailureChannel = channel('countersign:audit:write-failure');
