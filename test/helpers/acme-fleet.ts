/**
 * A fleet of `countersign start` processes sharing ACME storage on one real etcd
 * and one Pebble: configs, who holds an order lock, what certificate a process
 * serves for a name.
 */
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { directoryKey } from '../../src/edge/acme/index.js';
import type { EtcdServer } from './etcd.js';
import type { ProxyProcess, TestPki } from './proxy-process.js';

export const FLEET_PREFIX = '/fleet/';

export interface FleetMember { name: string; httpPort: number; proxy?: ProxyProcess }

export function fleetConfig(o: { pki: TestPki; etcd: EtcdServer; directoryUrl: string; pebbleCaFile: string; domain: string; httpPort: number; upstreamPort: number; lockTtl?: string }): Record<string, unknown> {
  const d = o.pki.dir;
  return {
    listen: '127.0.0.1:0',
    edge: {
      clientAuth: { mode: 'require', ca: `${d}/client-ca.crt` },
      acme: {
        directory: o.directoryUrl, ca: o.pebbleCaFile, domains: [o.domain], challenge: 'http-01', httpListen: `127.0.0.1:${o.httpPort}`,
        storage: { etcd: { endpoints: [o.etcd.endpoint], prefix: FLEET_PREFIX, tls: o.etcd.files, lockTtl: o.lockTtl ?? '3s' } },
      },
    },
    delegation: { ca: { cert: `${d}/delegation-ca.crt`, key: `${d}/delegation-ca.key` } },
    upstreams: { backend: { servers: [`127.0.0.1:${o.upstreamPort}`], ca: `${d}/backend-ca.crt`, servername: 'backend.internal' } },
    routes: [{ upstream: 'backend' }],
    log: { level: 'info' },
  };
}

export function etcdKey(directoryUrl: string, what: 'locks' | 'certificates', domain: string): string {
  return `${FLEET_PREFIX}${directoryKey(directoryUrl)}/${what}/${domain}`;
}

/** pid of the process holding the order lock of `domain`, or undefined when it is free. */
export async function lockHolderPid(etcd: EtcdServer, directoryUrl: string, domain: string): Promise<number | undefined> {
  const raw = (await etcd.etcdctl('get', '--print-value-only', etcdKey(directoryUrl, 'locks', domain))).trim();
  if (!raw) return undefined;
  return Number(String(JSON.parse(raw).owner).split(':')[1]);
}

/** SHA-256 fingerprint of the certificate served for `servername`, or undefined when the handshake fails (nothing issued yet). */
export function servedFingerprint(port: number, servername: string, pki: TestPki): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1', port, servername, rejectUnauthorized: false,
      cert: readFileSync(`${pki.dir}/alice.crt`), key: readFileSync(`${pki.dir}/alice.key`),
    }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.on('error', () => resolve(undefined));
    s.setTimeout(5_000, () => { s.destroy(); resolve(undefined); });
  });
}

export const countLogs = (members: FleetMember[], msg: string) => members.reduce((n, m) => n + (m.proxy?.logs.filter((l) => l.msg === msg).length ?? 0), 0);
