/**
 * A named group of upstream servers: balancing, passive health (a server that
 * fails to connect is skipped for failTimeoutMs, like nginx's max_fails/
 * fail_timeout), and TLS connection set-up with the identity's credentials.
 */
import { createHash } from 'node:crypto';
import { hostPortOf } from '../config/index.js';
import { connect as tlsConnect, createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { isIP, type Socket } from 'node:net';
import { CountersignError } from '../errors.js';
import { dialUpstream, type UpstreamStarttls } from './upstream-preamble.js';
import { isStalled, markDown, markUp, raceConnect, type HealthOptions, type RaceServer } from './connect-race.js';
import { upstreamConnectChannel, type UpstreamConnectEvent } from '../observe/index.js';
import { Balancer, type BalancePolicy } from './balancer.js';
import {
  diagnoseTlsError, diagnoseVerification, UpstreamHandshakeError, type HandshakeContext, type HandshakeDiagnosis, type PresentedIdentity,
} from './upstream-diagnosis.js';

export interface UpstreamServer extends RaceServer {
  host: string;
  port: number;
  address: string;
  active: number;
  failedUntil: number;
  /** active health checks' verdict (true until a check says otherwise; always true without checks) */
  healthy: boolean;
  /** the last active check, for /status */
  lastCheck?: { at: Date; ok: boolean; reason?: string; alpn?: string };
  /** the last TLS alert after a handshake (a refused client certificate), for a close that loses it (the pool's HTTP/1.1 connections) */
  lastRefusal?: { at: number; diagnosis: HandshakeDiagnosis };
}

export interface UpstreamClusterOptions {
  name: string;
  /** host:port list */
  servers: string[];
  /** PEM bundle that verifies the upstream servers' certificates */
  caPem: string;
  /** name checked in the server certificate and sent as SNI; default: the server's host */
  servername?: string;
  /** lowest TLS version (upstreams.*.minVersion; its default is the schema's) */
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** upstreams.*.balance */
  balance: BalancePolicy;
  /** max time to connect and finish the handshake, ms (upstreams.*.connectTimeout) */
  connectTimeoutMs: number;
  /** how long a failed server is skipped, ms (upstreams.*.failTimeout) */
  failTimeoutMs: number;
  /** preamble before the upstream TLS handshake (PostgreSQL SSLRequest) */
  starttls?: UpstreamStarttls;
  /** start the next server's connect when one is pending this long, ms (upstreams.*.connectRace; connect-race.ts) */
  connectRaceMs: number;
  /** a server went down or came back up (once per change) */
  onStateChange?: HealthOptions['onStateChange'];
}

/** Client credentials presented upstream, as cert/key PEM. */
export interface ClientCredentialsPem { certPem: string; keyPem: string }

export interface ConnectOptions {
  secureContext: SecureContext;
  /** ALPN protocols to offer */
  alpn?: string[];
  /** TLS session cache for resumption, keyed by server address */
  sessions?: Map<string, Buffer>;
  /** PROXY protocol header sent before anything else */
  proxyHeader?: Buffer;
  /** the client identity, for balance: identity-hash */
  balanceKey?: string;
  /** what the client certificate presented is, for the diagnosis of a refusal (upstream-diagnosis.ts) */
  presenting?: PresentedIdentity;
}

/** The server refused every ALPN protocol offered (no_application_protocol): not a server failure. */
export function isAlpnRefusal(err: unknown): boolean {
  const e = err as { code?: string; message?: string; diagnosis?: HandshakeDiagnosis; cause?: unknown } | undefined;
  if (e?.diagnosis) return e.diagnosis.kind === 'alpn';
  return /no application protocol|NO_APPLICATION_PROTOCOL/i.test(`${e?.code} ${e?.message}`);
}

/** numbers each cluster object (its `id`) */
let nextClusterId = 1;

/**
 * SHA-256 of what an upstream's TLS is built from and checked against: the CA
 * bundle, the servername and the lowest version. Equal settings give equal
 * digests, so a reload that keeps them reuses the identities' TLS contexts and
 * sessions; any change gives a new digest, so nothing built or verified under
 * the old settings is used again.
 */
export function upstreamTlsDigest(settings: Pick<UpstreamClusterOptions, 'caPem' | 'servername' | 'minVersion'>): string {
  return createHash('sha256').update(JSON.stringify([settings.caPem, settings.servername ?? null, settings.minVersion])).digest('hex');
}

export class UpstreamCluster {
  /**
   * Unique per cluster object: what pools and upstream TLS sessions are keyed
   * by, so a reload's new cluster of the same name never reaches the old one's
   * connections, nor resumes its sessions (a reload may change the CA or
   * servername, and Node skips the name check on a resumed session).
   */
  readonly id = nextClusterId++;
  readonly name: string;
  /**
   * upstreamTlsDigest of this cluster's settings: what the identities' TLS
   * contexts and sessions for it are keyed by (a reload may change its CA or servername)
   */
  readonly tlsDigest: string;
  readonly servers: UpstreamServer[];
  /** upstreams.*.connectRace, ms: what http mode's pool races its connects with too */
  readonly connectRaceMs: number;
  private readonly opts: UpstreamClusterOptions;
  private readonly balancer: Balancer;
  private anonymousContext?: SecureContext;

  constructor(opts: UpstreamClusterOptions) {
    this.name = opts.name;
    // every default is the schema's (config/schema.ts): none here
    this.opts = opts;
    this.connectRaceMs = opts.connectRaceMs;
    this.tlsDigest = upstreamTlsDigest(opts);
    this.servers = opts.servers.map((s) => ({ ...hostPortOf(s), address: s, active: 0, failedUntil: 0, healthy: true }));
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
    // a server with a connect stuck for longer than the race delay is busy: not picked while others are free
    const eligible = candidates.filter((s) => this.isEligible(s, now) && !isStalled(s, this.opts.connectRaceMs, now));
    return this.balancer.pick(eligible.length ? eligible : candidates, balanceKey);
  }

  /** down, retried after a backoff that doubles per consecutive failure (logged once per change) */
  markFailed(s: UpstreamServer, now = Date.now(), reason = 'connect failed'): void {
    markDown(s, { failTimeoutMs: this.opts.failTimeoutMs, onStateChange: this.opts.onStateChange }, reason, now);
  }

  /** a connect to `s` succeeded: back up (logged once when it was down) */
  markUp(s: UpstreamServer): void {
    markUp(s, { failTimeoutMs: this.opts.failTimeoutMs, onStateChange: this.opts.onStateChange });
  }

  /**
   * One TLS connection to one server; rejects on TLS/verification errors and on timeout.
   * `over`: a connection already open before TLS (a server-first greeting was
   * read on it): `request` is written first (MySQL's SSLRequest), then TLS.
   */
  connectTo(server: UpstreamServer, connectOpts: ConnectOptions, over?: { socket: Socket; request?: Buffer }): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const servername = this.opts.servername ?? (isIP(server.host) ? undefined : server.host);
      // Node skips the certificate checks on a resumed session (OpenSSL restores the
      // old verdict), so a session is only ever resumed under the CA and servername that verified it.
      const sessionKey = upstreamSessionKey(this.name, server.address, this.tlsDigest);
      let settled = false;
      let raw: Socket | undefined;
      let socket: TLSSocket | undefined;
      const timer = setTimeout(() => {
        fail(new CountersignError('ERR_UPSTREAM_UNAVAILABLE', `upstream ${this.name} ${server.address}: no TLS handshake within ${this.opts.connectTimeoutMs} ms`));
      }, this.opts.connectTimeoutMs);
      const ctx = (): HandshakeContext => ({
        upstream: this.name, server: server.address, checked: servername ?? server.host, minVersion: this.opts.minVersion, alpn: connectOpts.alpn, presenting: connectOpts.presenting,
      });
      // a TLS failure becomes a diagnosis (upstream-diagnosis.ts); refused, reset and timeouts say what they are already
      const failTls = (err: Error) => {
        const d = diagnoseTlsError(ctx(), err);
        fail(d ? new UpstreamHandshakeError(d, { cause: err }) : err);
      };
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket?.destroy();
        raw?.destroy();
        reject(err);
      };
      const start = (pre?: Socket) => {
      if (settled) { pre?.destroy(); return; }
      const s = socket = tlsConnect({
        ...(pre ? { socket: pre } : { host: server.host, port: server.port }),
        servername,
        secureContext: connectOpts.secureContext,
        ALPNProtocols: connectOpts.alpn,
        session: connectOpts.sessions?.get(sessionKey),
        // verified below on secureConnect, before anything is written: a failed
        // verification can then name the certificate the server really has
        rejectUnauthorized: false,
        // half-close must pass through: a client's FIN must not end the upstream's reply
        ...({ allowHalfOpen: true } as object),
        // When no servername is configured and the host is an IP, check the certificate against the IP.
        ...(servername ? {} : { checkServerIdentity: (_h: string, cert: { subjectaltname?: string }) => checkIp(server.host, cert) }),
      });
      // Node's onConnectSecure hands checkServerIdentity getPeerCertificate(true): the whole
      // chain as JavaScript objects, 0.3–0.4 ms a full handshake (a first-time identity's;
      // a resumed one skips the check). The check reads only the leaf's subject and
      // subjectaltname, which the leaf alone carries (25 µs). Shadowed on this socket until
      // the handshake is done; then the prototype's method is put back by assignment, not
      // `delete`, which would turn the socket's properties into a dictionary for its whole life.
      s.getPeerCertificate = leafCertificate as TLSSocket['getPeerCertificate'];
      if (connectOpts.sessions) s.on('session', (sess: Buffer) => keepSession(connectOpts.sessions!, sessionKey, sess));
      s.once('error', failTls);
      s.once('secureConnect', () => {
        s.getPeerCertificate = TLSSocket.prototype.getPeerCertificate;
        if (settled) return;
        if (!s.authorized) {
          const code = String(s.authorizationError ?? 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
          fail(new UpstreamHandshakeError(diagnoseVerification(ctx(), code, TLSSocket.prototype.getPeerCertificate.call(s, true) as import('node:tls').DetailedPeerCertificate)));
          return;
        }
        settled = true;
        clearTimeout(timer);
        s.removeListener('error', failTls);
        // an alert right after the handshake (TLS 1.3: the server refusing our
        // client certificate) is tagged with its diagnosis for whoever logs it
        s.once('error', (err: Error & { diagnosis?: HandshakeDiagnosis }) => {
          err.diagnosis ??= diagnoseTlsError(ctx(), err);
          if (err.diagnosis?.kind === 'client-certificate-refused') server.lastRefusal = { at: Date.now(), diagnosis: err.diagnosis };
        });
        resolve(s);
      });
      };
      if (over) {
        raw = over.socket;
        if (over.request?.length) over.socket.write(over.request);
        start(over.socket);
      } else if (connectOpts.proxyHeader || this.opts.starttls) {
        dialUpstream({ host: server.host, port: server.port, what: `upstream ${this.name} ${server.address}`, upstream: this.name, proxyHeader: connectOpts.proxyHeader, starttls: this.opts.starttls }, (r) => { raw = r; })
          .then(start, fail);
      } else {
        start();
      }
    });
  }

  /**
   * One connection to `server` as balancing sees it: a failure starts the
   * server's fail timeout, a success ends it; each attempt is a
   * `countersign:upstream:connect` event (the connect-time metric).
   */
  async attempt(server: UpstreamServer, connectOpts: ConnectOptions, over?: { socket: Socket; request?: Buffer }): Promise<TLSSocket> {
    const t0 = performance.now();
    const publish = (ok: boolean) => {
      if (upstreamConnectChannel.hasSubscribers) upstreamConnectChannel.publish({ upstream: this.name, server: server.address, ok, durationMs: performance.now() - t0 } satisfies UpstreamConnectEvent);
    };
    try {
      const socket = await this.connectTo(server, connectOpts, over);
      this.markUp(server);
      publish(true);
      return socket;
    } catch (err) {
      // a server that refuses the protocol is alive: the caller re-learns what it speaks
      if (!isAlpnRefusal(err)) this.markFailed(server, Date.now(), (err as Error).message);
      publish(false);
      throw err;
    }
  }

  /**
   * Connects to the first server that answers, failing over to the others.
   * Only connection set-up is retried: nothing has been sent yet, so it is safe.
   */
  async connect(connectOpts: ConnectOptions): Promise<{ socket: TLSSocket; server: UpstreamServer }> {
    try {
      return await raceConnect<UpstreamServer>({
        pick: (tried) => this.pick(tried, Date.now(), connectOpts.balanceKey),
        // attempt() marks the server down or up and publishes the connect event
        attempt: (s) => this.attempt(s, connectOpts),
        raceDelayMs: this.opts.connectRaceMs,
        failed: () => {},
        succeeded: () => {},
      });
    } catch (err) {
      const last = err as Error;
      throw new CountersignError('ERR_UPSTREAM_UNAVAILABLE', `upstream ${this.name}: no server reachable (${last?.message ?? 'no servers'})`, { cause: last });
    }
  }
}

/** `upstream \0 server \0 digest`: one session slot per server of an upstream, valid under one digest. */
export function upstreamSessionKey(upstream: string, server: string, tlsDigest: string): string {
  return `${upstream}\0${server}\0${tlsDigest}`;
}

/** Keeps `session` under `key`, dropping the same server's sessions kept under another digest (they can never be used again). */
function keepSession(sessions: Map<string, Buffer>, key: string, session: Buffer): void {
  const slot = key.slice(0, key.lastIndexOf('\0') + 1);
  for (const k of sessions.keys()) if (k !== key && k.startsWith(slot)) sessions.delete(k);
  sessions.set(key, session);
}

/** getPeerCertificate without the chain: what the name check of a full upstream handshake reads */
function leafCertificate(this: TLSSocket): import('node:tls').PeerCertificate {
  return TLSSocket.prototype.getPeerCertificate.call(this, false);
}

function checkIp(ip: string, cert: { subjectaltname?: string }): Error | undefined {
  const sans = (cert.subjectaltname ?? '').split(', ');
  return sans.includes(`IP Address:${ip}`)
    ? undefined
    : Object.assign(new Error(`upstream certificate is not valid for IP ${ip} (set servername to the name in its certificate)`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
}
