/**
 * An L4 balancer in front of a fleet, for tests: a TCP relay on 127.0.0.1 whose
 * target port is chosen per connection by `pick()` (which may be async, e.g.
 * read who holds an etcd lock). `pick()` returning undefined holds the
 * connection open and silent (a black hole), as an unreachable instance
 * behind a balancer looks to a client.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export type Pick = () => number | undefined | Promise<number | undefined>;

export interface TcpBalancer {
  port: number;
  /** connections accepted, and those sent to each target port */
  accepted: number;
  routed: Map<number, number>;
  held: number;
  setPick(pick: Pick): void;
  close(): Promise<void>;
}

export async function startTcpBalancer(opts: { port?: number; pick: Pick }): Promise<TcpBalancer> {
  let pick = opts.pick;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    balancer.accepted++;
    sockets.add(client);
    client.pause();
    client.on('error', () => {}).on('close', () => sockets.delete(client));
    Promise.resolve().then(pick).then((port) => {
      if (client.destroyed) return;
      if (port === undefined) { balancer.held++; return; }
      balancer.routed.set(port, (balancer.routed.get(port) ?? 0) + 1);
      const upstream = connect(port, '127.0.0.1');
      sockets.add(upstream);
      const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(upstream); };
      upstream.on('error', drop).on('close', drop);
      client.on('close', drop);
      client.pipe(upstream).pipe(client);
      client.resume();
    }, () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const balancer: TcpBalancer = {
    port: (server.address() as AddressInfo).port,
    accepted: 0,
    routed: new Map(),
    held: 0,
    setPick: (p) => { pick = p; },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
  return balancer;
}
