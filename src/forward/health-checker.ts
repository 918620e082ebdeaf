/**
 * Active health checks of one upstream cluster (`upstreams.<name>.health`):
 * every `intervalMs` each server gets a check — a TLS handshake (`tls`, the
 * ALPN the server chose is recorded) or a GET of `path` over TLS expecting
 * `expectStatus` (`http`). `unhealthyAfter` failures in a row take the server
 * out of balancing, `healthyAfter` passes bring it back. Every change is one
 * warn line and a `countersign:upstream:health` event (a metric).
 *
 * Checks of a server never overlap (the next is scheduled when one ends), a
 * failed check is a verdict, never an exception, and stop() resolves once no
 * check is running.
 */
import { http } from '../node-http.js';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { Logger } from '../observe/index.js';
import { upstreamHealthChannel, type UpstreamHealthEvent } from '../observe/index.js';
import type { UpstreamCluster, UpstreamServer } from './upstream-cluster.js';

export interface HealthCheckOptions {
  type: 'tls' | 'http';
  intervalMs: number;
  timeoutMs: number;
  /** http checks */
  path: string;
  expectStatus: number;
  unhealthyAfter: number;
  healthyAfter: number;
}

export interface HealthCheckerOptions {
  cluster: UpstreamCluster;
  check: HealthCheckOptions;
  /** the client identity presented by checks (the route's proxy certificate, or none) */
  secureContext: () => SecureContext;
  /** ALPN offered by tls checks; http checks offer http/1.1 */
  alpn?: string[];
  /** name sent in the Host header of http checks */
  host?: string;
  logger: Logger;
}

interface ServerState { fails: number; passes: number; timer?: NodeJS.Timeout; running?: Promise<void> }

export class HealthChecker {
  private readonly state = new Map<UpstreamServer, ServerState>();
  private stopped = false;

  constructor(private readonly opts: HealthCheckerOptions) {}

  start(): void {
    for (const s of this.opts.cluster.servers) {
      const st: ServerState = { fails: 0, passes: 0 };
      this.state.set(s, st);
      this.schedule(s, st, 0);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const st of this.state.values()) clearTimeout(st.timer);
    await Promise.all([...this.state.values()].map((st) => st.running));
  }

  private schedule(s: UpstreamServer, st: ServerState, delayMs: number): void {
    if (this.stopped) return;
    st.timer = setTimeout(() => {
      st.running = this.checkOnce(s).then((r) => this.record(s, st, r)).finally(() => {
        st.running = undefined;
        this.schedule(s, st, this.opts.check.intervalMs);
      });
    }, delayMs);
    st.timer.unref();
  }

  private record(s: UpstreamServer, st: ServerState, r: { ok: boolean; reason?: string; alpn?: string }): void {
    s.lastCheck = { at: new Date(), ...r };
    if (r.ok) { st.passes++; st.fails = 0; } else { st.fails++; st.passes = 0; }
    const { cluster, logger } = this.opts;
    let changed = false;
    if (s.healthy && st.fails >= this.opts.check.unhealthyAfter) {
      s.healthy = false;
      changed = true;
      logger.warn({ upstream: cluster.name, server: s.address, outcome: 'unhealthy', reason: r.reason, fails: st.fails }, 'upstream server unhealthy; taken out of balancing');
    } else if (!s.healthy && st.passes >= this.opts.check.healthyAfter) {
      s.healthy = true;
      changed = true;
      // its passive fail timeout is over too: the checks just reached it
      cluster.markUp(s);
      logger.warn({ upstream: cluster.name, server: s.address, outcome: 'healthy', alpn: r.alpn, passes: st.passes }, 'upstream server healthy again; back in balancing');
    }
    if (changed && upstreamHealthChannel.hasSubscribers) {
      upstreamHealthChannel.publish({ upstream: cluster.name, server: s.address, healthy: s.healthy, reason: r.reason } satisfies UpstreamHealthEvent);
    }
  }

  /** One check; resolves with the verdict, never rejects. */
  checkOnce(s: UpstreamServer): Promise<{ ok: boolean; reason?: string; alpn?: string }> {
    const { check } = this.opts;
    return new Promise((resolve) => {
      let socket: TLSSocket | undefined;
      let settled = false;
      const done = (r: { ok: boolean; reason?: string; alpn?: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket?.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => done({ ok: false, reason: `no answer within ${check.timeoutMs} ms` }), check.timeoutMs);
      let context: SecureContext;
      try {
        context = this.opts.secureContext();
      } catch (err) {
        done({ ok: false, reason: (err as Error).message });
        return;
      }
      this.opts.cluster.connectTo(s, { secureContext: context, alpn: check.type === 'http' ? ['http/1.1'] : this.opts.alpn }).then((sock) => {
        if (settled) { sock.destroy(); return; }
        socket = sock;
        sock.on('error', () => {});
        const alpn = sock.alpnProtocol || undefined;
        if (check.type === 'tls') { done({ ok: true, alpn }); return; }
        const req = http.request({
          method: 'GET', path: check.path, createConnection: () => sock,
          headers: { host: this.opts.host ?? s.host, 'user-agent': 'countersign-health-check', connection: 'close' },
        }, (res) => {
          res.resume();
          if (res.statusCode === check.expectStatus) done({ ok: true, alpn });
          else done({ ok: false, reason: `GET ${check.path} answered ${res.statusCode}, expected ${check.expectStatus}`, alpn });
        });
        req.on('error', (err) => done({ ok: false, reason: `GET ${check.path}: ${(err as NodeJS.ErrnoException).code ?? err.message}` }));
        req.end();
      }, (err: Error) => done({ ok: false, reason: err.message }));
    });
  }
}
