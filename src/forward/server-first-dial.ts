/**
 * The forwarder's part of a server-first listener (`starttls: mysql | nats`):
 * as a client connects, before it has said anything, open a connection to a
 * server of the listener's route's upstream and read its greeting (checked:
 * it must offer TLS). Servers are tried in balancing order, failing over as
 * a connect does (nothing has reached the client yet); a failure is
 * diagnosed and marks the server failed like any connect. The socket then
 * waits, before TLS, until the client's handshake is done and admitted
 * (client-connections.ts); the edge destroys it if the client goes first.
 */
import type { Socket } from 'node:net';
import { CountersignError } from '../errors.js';
import { buildProxyHeader, type Endpoint, type ServerFirstUpstream } from '../edge/index.js';
import { upstreamConnectChannel, type UpstreamConnectEvent } from '../observe/index.js';
import type { Config } from '../config/index.js';
import type { Router } from './router.js';
import type { UpstreamCluster, UpstreamServer } from './upstream-cluster.js';
import { openServerFirst } from './upstream-preamble.js';

/** An upstream connection opened for a client that has not done its TLS handshake yet. */
export interface ServerFirstDial extends ServerFirstUpstream {
  socket: Socket;
  server: UpstreamServer;
  /** the cluster it belongs to (a reload meanwhile brings another) */
  cluster: UpstreamCluster;
}

/** `dialServerFirst` for the edge listeners: the route of `listener` in the generation of now. */
export function serverFirstDialer(routing: () => { config: Config; router: Router; clusters: ReadonlyMap<string, UpstreamCluster> }) {
  return async (listener: string, peer: Endpoint, local: Endpoint): Promise<ServerFirstDial> => {
    const generation = routing();
    const route = generation.router.forConnection(undefined, listener)?.primary;
    if (!route) throw new CountersignError('ERR_UPSTREAM_UNAVAILABLE', `listener ${listener}: no route`);
    const u = generation.config.upstreams[route.upstream];
    const cluster = generation.clusters.get(route.upstream);
    if (!cluster || (u.starttls !== 'mysql' && u.starttls !== 'nats')) throw new CountersignError('ERR_UPSTREAM_UNAVAILABLE', `listener ${listener}: upstream ${route.upstream} does not speak first (starttls ${u.starttls ?? 'none'})`);
    const starttls = u.starttls;
    const proxyHeader = u.proxyProtocol ? buildProxyHeader(u.proxyProtocol, peer, local) : undefined;
    const tried = new Set<UpstreamServer>();
    let last: Error | undefined;
    for (let server = cluster.pick(tried); server; server = cluster.pick(tried)) {
      tried.add(server);
      const t0 = performance.now();
      let raw: Socket | undefined;
      const timer = setTimeout(() => raw?.destroy(new CountersignError('ERR_UPSTREAM_UNAVAILABLE', `upstream ${cluster.name} ${server!.address}: no greeting within ${u.connectTimeout} ms`)), u.connectTimeout);
      try {
        const { socket, greeting } = await openServerFirst({ host: server.host, port: server.port, what: `upstream ${cluster.name} ${server.address}`, upstream: cluster.name, proxyHeader, starttls }, (s) => { raw = s; });
        clearTimeout(timer);
        publish(cluster, server, true, t0);
        let aborted = false;
        return { socket, server, cluster, greeting, abort: () => { if (!aborted) { aborted = true; socket.destroy(); } } };
      } catch (err) {
        clearTimeout(timer);
        last = err as Error;
        cluster.markFailed(server, Date.now(), last.message);
        publish(cluster, server, false, t0);
      }
    }
    throw new CountersignError('ERR_UPSTREAM_UNAVAILABLE', `upstream ${cluster.name}: no server reachable (${last?.message ?? 'no servers'})`, { cause: last });
  };
}

function publish(cluster: UpstreamCluster, server: UpstreamServer, ok: boolean, t0: number): void {
  if (upstreamConnectChannel.hasSubscribers) upstreamConnectChannel.publish({ upstream: cluster.name, server: server.address, ok, durationMs: performance.now() - t0 } satisfies UpstreamConnectEvent);
}
