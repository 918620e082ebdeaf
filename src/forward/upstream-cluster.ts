/**
 * A named group of upstream servers: balancing, passive health (a server that
 * fails to connect is skipped for failTimeoutMs, like nginx's max_fails/
 * fail_timeout), and TLS connection set-up with the identity's credentials.
 */
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import { CountersignError } from '../errors.js';
import { upstreamConnectChannel, type UpstreamConnectEvent } from '../observe/channels.js';
import { Balancer, type BalancePolicy } from './balancer.js';

export interface UpstreamServer {
  host: string;
  port: number;
  address: string;
  active: number;
  failedUntil: number;
  /** active health checks' verdict (true until a check says otherwise; always true without checks) */
  healthy: boolean;
  /** the last active check, for /status */
  lastCheck?: { at: Date; ok: boolean; reason?: string; alpn?: string };
}

export interface UpstreamClusterOptions {
  name: string;
  /** host:port list */
  servers: string[];
  /** PEM bundle that verifies the upstream servers' certificates */
  caPem: string;
  /** name checked in the server certificate and sent as SNI; default: the server's host */
  servername?: string;
  /** default TLSv1.3 */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** default round-robin */
  balance?: BalancePolicy;
  /** default 5000 */
  connectTimeoutMs?: number;
  /** how long a failed server is skipped; default 10000 */
  failTimeoutMs?: number;
}

/** Client credentials presented upstream, as cert/key PEM. */
export interface ClientCredentialsPem { certPem: string; keyPem: string }

export interface ConnectOptions {
  secureContext: SecureContext;
  /** ALPN protocols to offer */
  alpn?: string[];
  /** TLS session cache for resumption, keyed by server address */
  sessions?: Map<string, Buffer>;
  /** the client identity, for balance: identity-hash */
  balanceKey?: string;
}

export function parseHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  let host = s.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host, port: Number(s.slice(i + 1)) };
}

export class UpstreamCluster {
  readonly name: string;
  readonly servers: UpstreamServer[];
  private readonly opts: Required<Omit<UpstreamClusterOptions, 'servername'>> & { servername?: string };
  private readonly balancer: Balancer;
  private anonymousContext?: SecureContext;

  constructor(opts: UpstreamClusterOptions) {
    this.name = opts.name;
    this.opts = {
      minVersion: 'TLSv1.3', balance: 'round-robin', connectTimeoutMs: 5000, failTimeoutMs: 10_000, ...opts,
    };
    this.servers = opts.servers.map((s) => ({ ...parseHostPort(s), address: s, active: 0, failedUntil: 0, healthy: true }));
    this.balancer = new Balancer(this.opts.balance);
  }

  /** A server takes new connections: healthy by the active checks and not in its fail timeout. */
  isEligible(s: UpstreamServer, now = Date.now()): boolean {
    return s.healthy && s.failedUntil <= now;
  }

  /** Builds the context presenting `creds` (or no client certificate) to this cluster. */
  buildContext(creds?: ClientCredentialsPem): SecureContext {
    return createSecureContext({
      ca: this.opts.caPem,
      minVersion: this.opts.minVersion,
      ...(creds ? { cert: creds.certPem, key: creds.keyPem } : {}),
    });
  }

  /** The context for clients forwarded without a certificate (anonymous routes). */
  anonymous(): SecureContext {
    return (this.anonymousContext ??= this.buildContext());
  }

  /**
   * Next server by the balancing policy (balancer.ts), skipping unhealthy ones
   * and ones in their fail timeout unless all are (a stale verdict is better
   * than a certain failure).
   */
  pick(exclude?: ReadonlySet<UpstreamServer>, now = Date.now(), balanceKey?: string): UpstreamServer | undefined {
    const candidates = this.servers.filter((s) => !exclude?.has(s));
    if (candidates.length === 0) return undefined;
    const eligible = candidates.filter((s) => this.isEligible(s, now));
    return this.balancer.pick(eligible.length ? eligible : candidates, balanceKey);
  }

  markFailed(s: UpstreamServer, now = Date.now()): void {
    s.failedUntil = now + this.opts.failTimeoutMs;
  }

  /** One TLS connection to one server; rejects on TLS/verification errors and on timeout. */
  connectTo(server: UpstreamServer, o: ConnectOptions): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const servername = this.opts.servername ?? (isIP(server.host) ? undefined : server.host);
      // Node skips the certificate name check on a resumed session, so a session is
      // only ever resumed by the cluster (CA, servername) that verified it.
      const sessionKey = `${this.name}\0${server.address}`;
      const socket = tlsConnect({
        host: server.host,
        port: server.port,
        servername,
        secureContext: o.secureContext,
        ALPNProtocols: o.alpn,
        session: o.sessions?.get(sessionKey),
        // half-close must pass through: a client's FIN must not end the upstream's reply
        ...({ allowHalfOpen: true } as object),
        // When no servername is configured and the host is an IP, check the certificate against the IP.
        ...(servername ? {} : { checkServerIdentity: (_h: string, cert: { subjectaltname?: string }) => checkIp(server.host, cert) }),
      });
      let settled = false;
      const timer = setTimeout(() => {
        fail(new CountersignError('ERR_UPSTREAM_UNAVAILABLE', `upstream ${this.name} ${server.address}: no TLS handshake within ${this.opts.connectTimeoutMs} ms`));
      }, this.opts.connectTimeoutMs);
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      if (o.sessions) socket.on('session', (s: Buffer) => o.sessions!.set(sessionKey, s));
      socket.once('error', fail);
      socket.once('secureConnect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeListener('error', fail);
        resolve(socket);
      });
    });
  }

  /**
   * One connection to `server` as balancing sees it: a failure starts the
   * server's fail timeout, a success ends it; each attempt is a
   * `countersign:upstream:connect` event (the connect-time metric).
   */
  async attempt(server: UpstreamServer, o: ConnectOptions): Promise<TLSSocket> {
    const t0 = performance.now();
    const publish = (ok: boolean) => {
      if (upstreamConnectChannel.hasSubscribers) upstreamConnectChannel.publish({ upstream: this.name, server: server.address, ok, durationMs: performance.now() - t0 } satisfies UpstreamConnectEvent);
    };
    try {
      const socket = await this.connectTo(server, o);
      server.failedUntil = 0;
      publish(true);
      return socket;
    } catch (err) {
      this.markFailed(server);
      publish(false);
      throw err;
    }
  }

  /**
   * Connects to the first server that answers, failing over to the others.
   * Only connection set-up is retried: nothing has been sent yet, so it is safe.
   */
  async connect(o: ConnectOptions): Promise<{ socket: TLSSocket; server: UpstreamServer }> {
    const tried = new Set<UpstreamServer>();
    let last: Error | undefined;
    for (let s = this.pick(undefined, Date.now(), o.balanceKey); s; s = this.pick(tried, Date.now(), o.balanceKey)) {
      tried.add(s);
      try {
        return { socket: await this.attempt(s, o), server: s };
      } catch (err) {
        last = err as Error;
      }
    }
    throw new CountersignError('ERR_UPSTREAM_UNAVAILABLE', `upstream ${this.name}: no server reachable (${last?.message ?? 'no servers'})`, { cause: last });
  }
}

function checkIp(ip: string, cert: { subjectaltname?: string }): Error | undefined {
  const sans = (cert.subjectaltname ?? '').split(', ');
  return sans.includes(`IP Address:${ip}`) ? undefined : new Error(`upstream certificate is not valid for IP ${ip} (set servername to the name in its certificate)`);
}
