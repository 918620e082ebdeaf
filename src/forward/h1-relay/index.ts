/**
 * The HTTP/1.1 relay (`http.http1: relay`): HTTP/1.1 client connections served
 * without Node's IncomingMessage/ServerResponse or an undici request per
 * request — heads parsed by Node's own parser, bodies moved as bytes, on the
 * identity's keep-alive upstream connections. See relay-connection.ts.
 */
import type { TLSSocket } from 'node:tls';
import type { ClientConnection } from '../client-connection.js';
import type { UpstreamCluster } from '../upstream-cluster.js';
import { RelayConnection, type RelayHost } from './relay-connection.js';
import { RelayPools } from './upstream-pool.js';

export type { RelayHost } from './relay-connection.js';

export interface H1RelayOptions extends Omit<RelayHost, 'pools' | 'forget'> {
  /** max identities whose upstream connections are kept */
  maxPools: number;
}

export class H1Relay {
  readonly pools: RelayPools;
  private readonly connections = new Set<RelayConnection>();
  private readonly host: RelayHost;

  constructor(o: H1RelayOptions) {
    this.pools = new RelayPools({ max: o.maxPools });
    this.host = { ...o, pools: this.pools, forget: (c) => this.connections.delete(c) };
  }

  accept(socket: TLSSocket, conn: ClientConnection): void {
    this.connections.add(new RelayConnection(socket, conn, this.host));
  }

  /** Closes client connections that have no request in progress (graceful stop). */
  closeIdle(): void {
    for (const c of [...this.connections]) c.closeIfIdle();
  }

  forgetIdentity(identityKey: string): void { this.pools.forget(identityKey); }

  /** A reload replaced this cluster. */
  retireCluster(cluster: UpstreamCluster): void { this.pools.retire(cluster); }

  close(): void { this.closeIdle(); this.pools.close(); }

  destroy(): void {
    for (const c of [...this.connections]) c.destroy();
    this.pools.destroy();
  }
}
