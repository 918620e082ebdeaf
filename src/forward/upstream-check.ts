/**
 * `countersign check --connect`: tries each upstream server once, as the proxy
 * would connect to it (the same UpstreamCluster code, its trust store and
 * servername, presenting the client certificate the proxy would present), and
 * says per server: ok with the ALPN protocols it speaks, or the diagnosis
 * (upstream-diagnosis.ts).
 *
 * A TLS 1.3 server checks the client certificate after the client's handshake
 * is done, so "accepted" is known only when the server answers something after
 * it: a session ticket, data, or no alert within `acceptWaitMs`.
 */
import type { TLSSocket } from 'node:tls';
import { isServerFirst, type UpstreamConfig } from '../config/index.js';
import { buildProxyHeader } from '../edge/index.js';
import { ALPN_CANDIDATES, probeServer } from './upstream-alpn.js';
import { probeTarget } from './upstream-protocols.js';
import { UpstreamCluster, type ClientCredentialsPem } from './upstream-cluster.js';
import { diagnoseAlpnMismatch, diagnoseSilentClose, findDiagnosis, type HandshakeDiagnosis, type PresentedIdentity } from './upstream-diagnosis.js';

/** One client identity the proxy presents to an upstream (a throwaway minted certificate, a proxyCert, none). */
export interface CheckIdentity {
  /** for the report: `delegated`, `routes[1].proxyCert`, `anonymous` */
  label: string;
  credentials?: ClientCredentialsPem;
  presenting: PresentedIdentity;
}

export interface ServerCheck {
  upstream: string;
  server: string;
  identity: string;
  ok: boolean;
  /** TLS version negotiated */
  tls?: string;
  /** the protocols the server speaks (learned by probes, or the configured override) */
  speaks?: string[];
  /** how the speaks list was obtained (`protocol`: none, the server speaks first: `starttls` mysql or nats) */
  alpnSource?: 'learned' | 'configured' | 'unknown' | 'protocol';
  /** how the client certificate's acceptance was seen */
  accepted?: 'session-ticket' | 'data' | 'no-alert';
  diagnosis?: HandshakeDiagnosis;
  /** a failure without a TLS diagnosis (refused, timeout, preamble) */
  error?: string;
}

export interface CheckUpstreamOptions {
  name: string;
  upstream: UpstreamConfig;
  /** PEM of the upstream's `ca` files */
  caPem: string;
  identities: CheckIdentity[];
  /** how long to wait for the server's reaction to the client certificate; default min(connectTimeout, 1500) */
  acceptWaitMs?: number;
}

/** Checks every server of one upstream with every identity given (in parallel per server). */
export async function checkUpstream(opts: CheckUpstreamOptions): Promise<ServerCheck[]> {
  const u = opts.upstream;
  const cluster = new UpstreamCluster({
    name: opts.name, servers: u.servers, caPem: opts.caPem, servername: u.servername, minVersion: u.minVersion,
    connectTimeoutMs: u.connectTimeout, starttls: u.starttls,
    balance: u.balance, failTimeoutMs: u.failTimeout, connectRaceMs: u.connectRace,
  });
  const acceptWaitMs = opts.acceptWaitMs ?? Math.min(u.connectTimeout, 1500);
  const results = await Promise.all(cluster.servers.map(async (server) => {
    const serverFirst = isServerFirst(u.starttls);
    const speaks = u.alpn ?? (serverFirst ? [] : await probeServer(probeTarget(opts.name, u, server), ALPN_CANDIDATES));
    const alpnSource = u.alpn ? 'configured' as const : serverFirst ? 'protocol' as const : speaks === undefined ? 'unknown' as const : 'learned' as const;
    const implied = u.starttls === 'postgres' ? ['postgresql'] : [];
    return Promise.all(opts.identities.map(async (id): Promise<ServerCheck> => {
      const base = { upstream: opts.name, server: server.address, identity: id.label, speaks: speaks && [...speaks, ...implied], alpnSource };
      let socket: TLSSocket | undefined;
      try {
        socket = await cluster.connectTo(server, {
          secureContext: cluster.buildContext(id.credentials),
          // what the proxy would offer: the protocols the server speaks (behind a starttls preamble: none)
          alpn: u.starttls || !speaks?.length ? undefined : speaks,
          presenting: id.presenting,
          // the PROXY header of a probe: the proxy's own connection
          ...(u.proxyProtocol ? { proxyHeader: buildProxyHeader(u.proxyProtocol, undefined, undefined) } : {}),
        });
        const got = socket.alpnProtocol || false;
        if (u.alpn?.length && !u.starttls && (!got || !u.alpn.includes(got))) {
          const d = diagnoseAlpnMismatch({ upstream: opts.name, server: server.address, checked: u.servername ?? server.host }, u.alpn.join(' or '), got);
          return { ...base, ok: false, tls: socket.getProtocol() ?? undefined, diagnosis: d };
        }
        const tls = socket.getProtocol() ?? undefined;
        const reaction = await awaitAcceptance(socket, acceptWaitMs);
        if (reaction === 'closed') {
          return { ...base, ok: false, tls, diagnosis: diagnoseSilentClose({ upstream: opts.name, server: server.address, checked: u.servername ?? server.host, presenting: id.presenting }) };
        }
        if (reaction instanceof Error) {
          const d = findDiagnosis(reaction);
          return { ...base, ok: false, tls, ...(d ? { diagnosis: d } : { error: `${server.address}: ${reaction.message}` }) };
        }
        return { ...base, ok: true, tls, accepted: reaction };
      } catch (err) {
        const d = findDiagnosis(err);
        return { ...base, ok: false, ...(d ? { diagnosis: d } : { error: (err as Error).message }) };
      } finally {
        socket?.destroy();
      }
    }));
  }));
  return results.flat();
}

/** The server's first reaction after the handshake: a ticket or data (accepted), an error or close (refused), or nothing. */
type Reaction = 'session-ticket' | 'data' | 'no-alert' | 'closed' | Error;
function awaitAcceptance(s: TLSSocket, waitMs: number): Promise<Reaction> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Reaction) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.removeAllListeners('session');
      s.removeAllListeners('data');
      resolve(r);
    };
    const timer = setTimeout(() => done('no-alert'), waitMs);
    s.once('session', () => done('session-ticket'));
    s.once('data', () => done('data'));
    s.once('error', (err) => done(err));
    // an alert comes as 'error' first; a close without one is 'closed'
    const closed = () => setImmediate(() => done('closed'));
    s.once('end', closed);
    s.once('close', closed);
  });
}
