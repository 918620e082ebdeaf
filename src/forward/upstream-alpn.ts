/**
 * What each upstream server really speaks, learned rather than guessed.
 *
 * A probe is a TLS handshake without a client certificate that offers one ALPN
 * candidate. In TLS 1.3 the server's ALPN choice (EncryptedExtensions) arrives
 * before it checks the client's certificate, so no identity is needed: the
 * client side completes, reads `alpnProtocol`, and closes. The answer is
 * "speaks it" (selected), "does not" (no ALPN selected, or a
 * no_application_protocol alert), or "unknown" (the server could not be
 * reached, or a TLS 1.2 server refused the anonymous handshake before we saw
 * its answer).
 *
 * A catalog keeps one answer per server (probed at start, again on a mismatch,
 * when a server with an unknown answer comes back, and at most every
 * `minReprobeMs`); the edge negotiates with a client only protocols every known
 * server of the cluster speaks. A configured `alpn` list replaces all of this.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';

/** Protocols probed on every server (in the preference order the edge uses). */
export const ALPN_CANDIDATES: readonly string[] = ['h2', 'http/1.1', 'http/1.0', 'mqtt', 'postgresql'];
/** At most this many protocol names learned from clients are probed per cluster. */
export const MAX_EXTRA_CANDIDATES = 16;

export type ProbeAnswer = 'yes' | 'no' | 'unknown';

export interface ProbeTarget {
  host: string;
  port: number;
  /** SNI sent in the probe */
  servername?: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  timeoutMs: number;
  /**
   * Sets up the raw connection before TLS (PROXY header, PostgreSQL SSLRequest);
   * resolves with the socket to run TLS on. Default: TLS straight on TCP.
   */
  dial?: (onSocket: (raw: Socket) => void) => Promise<Socket>;
}

/** One probe handshake offering `protocol` alone. */
export function probeOne(t: ProbeTarget, protocol: string): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    let socket: TLSSocket | undefined;
    let raw: Socket | undefined;
    const done = (a: ProbeAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      raw?.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => done('unknown'), t.timeoutMs);
    const start = (raw?: Socket) => {
      if (settled) { raw?.destroy(); return; }
      socket = tlsConnect({
        ...(raw ? { socket: raw } : { host: t.host, port: t.port }),
        servername: t.servername,
        minVersion: t.minVersion,
        ALPNProtocols: [protocol],
        // the probe learns protocols, not trust: the real connection verifies the server
        rejectUnauthorized: false,
      });
      socket.once('secureConnect', () => done(socket!.alpnProtocol === protocol ? 'yes' : 'no'));
      socket.once('error', (err: Error & { code?: string }) => {
        done(/no application protocol|NO_APPLICATION_PROTOCOL/i.test(`${err.code} ${err.message}`) ? 'no' : 'unknown');
      });
    };
    if (t.dial) t.dial((r) => { raw = r; }).then(start, () => done('unknown'));
    else start();
  });
}

/**
 * Probes `candidates` one by one (in parallel). Returns the protocols spoken in
 * candidate order, `[]` for a server that negotiates no ALPN, or undefined when
 * any probe could not get an answer.
 */
export async function probeServer(t: ProbeTarget, candidates: readonly string[]): Promise<string[] | undefined> {
  const answers = await Promise.all(candidates.map((p) => probeOne(t, p)));
  if (answers.includes('unknown')) return undefined;
  return candidates.filter((_, i) => answers[i] === 'yes');
}

export interface AlpnCatalogOptions {
  /** upstream name, for logs */
  name: string;
  servers: { address: string; host: string; port: number }[];
  /** the probe target of a server */
  target(server: { address: string; host: string; port: number }): ProbeTarget;
  /** protocols implied by the upstream's preamble (starttls postgres → postgresql) */
  implied?: string[];
  /** a server is probed again at most this often; default 5000 */
  minReprobeMs?: number;
  onLearned?(server: string, speaks: string[] | undefined, previous: string[] | undefined): void;
}

interface Entry { speaks?: string[]; answered?: boolean; probedAt: number; running?: Promise<void>; later?: NodeJS.Timeout }

export class AlpnCatalog {
  private readonly entries = new Map<string, Entry>();
  private readonly extra = new Set<string>();
  private readonly minReprobeMs: number;

  constructor(private readonly opts: AlpnCatalogOptions) {
    this.minReprobeMs = opts.minReprobeMs ?? 5000;
    for (const s of opts.servers) this.entries.set(s.address, { probedAt: 0 });
  }

  private candidates(): string[] {
    return [...ALPN_CANDIDATES, ...this.extra].filter((p) => !this.opts.implied?.includes(p));
  }

  /** Probes every server once; resolves when all answered (or timed out). */
  probeAll(): Promise<void> {
    return Promise.all(this.opts.servers.map((s) => this.probe(s.address, true))).then(() => {});
  }

  /** Probes one server again (rate-limited unless forced); never rejects. */
  probe(address: string, force = false): Promise<void> {
    const e = this.entries.get(address);
    const server = this.opts.servers.find((s) => s.address === address);
    if (!e || !server) return Promise.resolve();
    if (e.running) return e.running;
    const wait = e.probedAt + this.minReprobeMs - Date.now();
    if (!force && wait > 0) {
      // too soon after the last probe: do it once the interval has passed
      e.later ??= setTimeout(() => { e.later = undefined; void this.probe(address, true); }, wait);
      e.later.unref();
      return Promise.resolve();
    }
    e.probedAt = Date.now();
    e.running = probeServer(this.opts.target(server), this.candidates()).then((speaks) => {
      const previous = e.speaks;
      const first = !e.answered;
      e.answered = true;
      // an unreachable server keeps what it was last seen to speak
      if (speaks !== undefined || previous === undefined) e.speaks = speaks;
      if (first || String(previous) !== String(speaks)) this.opts.onLearned?.(address, speaks, previous);
    }).finally(() => { e.running = undefined; });
    return e.running;
  }

  /** What one server speaks: learned protocols plus the implied ones; undefined when unknown. */
  speaks(address: string): string[] | undefined {
    const s = this.entries.get(address)?.speaks;
    return s === undefined ? undefined : [...s, ...(this.opts.implied ?? [])];
  }

  /** Whether a server's answer is still unknown. */
  unknown(address: string): boolean { return this.entries.get(address)?.speaks === undefined; }

  /**
   * What the edge may negotiate for this cluster: the protocols every server with
   * a known answer speaks, in candidate order; undefined when no server is known.
   */
  common(): string[] | undefined {
    const known = [...this.entries.keys()].map((a) => this.speaks(a)).filter((s): s is string[] => s !== undefined);
    if (known.length === 0) return this.opts.implied?.length ? [...this.opts.implied] : undefined;
    return known.reduce((a, b) => a.filter((p) => b.includes(p)));
  }

  /**
   * A client offered protocols no probe has asked about: remember (a bounded
   * number of) them and probe every server for them in the background.
   */
  noteOffered(offered: readonly string[]): void {
    let added = false;
    for (const p of offered) {
      if (this.extra.size >= MAX_EXTRA_CANDIDATES) break;
      if (ALPN_CANDIDATES.includes(p) || this.extra.has(p) || this.opts.implied?.includes(p)) continue;
      if (!/^[\x21-\x7e]{1,64}$/.test(p)) continue;
      this.extra.add(p);
      added = true;
    }
    if (added) for (const s of this.opts.servers) void this.probe(s.address, true);
  }
}
