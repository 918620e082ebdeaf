/**
 * The edge's admission of a client connection whose TLS handshake is done —
 * the verdict of the current verifier (chain, identity, deny list,
 * revocation) and, for connection-mode routes, the route's access rule — made
 * once, and handed forward as an AdmittedConnection: forward routes and
 * forwards it, and never re-derives what was decided here.
 *
 * The edge also owns the re-verification of what it admitted: for as long as
 * a connection is open, a change of the client trust (CRL, CA) or of the
 * policy (a reload's deny list, a narrowed rule) checks it again with the same
 * verifier, and a connection no longer admitted is closed at once (forward is
 * told first, to drop what it gave the client: minted credentials, pools).
 */
import { channel } from 'node:diagnostics_channel';
import type { TLSSocket } from 'node:tls';
import type { CertificateInfo } from '../pki/index.js';
import type { ClientPath, ClientTrust } from './client-trust.js';
import { peerChainDer } from './client-trust.js';
import type { ClientVerdict, ClientVerifier } from './client-verifier.js';
import { peerOf } from './edge-listener.js';
import type { EdgeLogger } from './logger.js';
import type { Endpoint } from './proxy-protocol.js';

/** published after each verification: `{ id, sni, listener, verdict, durationMs }` */
export const handshakeChannel = channel('countersign:edge:handshake');

/** A client connection as the edge admitted it (or refused it: http mode still answers a refused client). */
export interface AdmittedConnection {
  readonly id: number;
  readonly socket: TLSSocket;
  /** the listener it came in on (`main` for `listen`) */
  readonly listener: string;
  readonly sni: string | undefined;
  /** the client's address (from its PROXY header when one was accepted) */
  readonly peer: Endpoint;
  /** performance.now() when the edge took it */
  readonly startedAt: number;
  /** the decision at admission; a refusal names its reason, and the rule when a route's `allow` refused it */
  readonly verdict: ClientVerdict;
  readonly rule?: string;
  /** the verified client (undefined: anonymous or refused) */
  readonly client: CertificateInfo | undefined;
  /** a configured CA vouched for the client's names (see ClientVerdict) */
  readonly namesVouched: boolean;
  /** the certificates the client sent after its leaf, DER (read on first use: rfc9440 sends them) */
  chain(): Buffer[];
  /** set when a re-verification no longer admits it (it is closed at once): the reason */
  readonly revoked?: string;
}

/** What admission decides by: the current generation's verifier and rules. */
export interface AdmissionPolicy {
  verifier: ClientVerifier;
  /**
   * The access rule (a route's `allow`) that refuses this client on the
   * connection-mode route its SNI and listener lead to, or undefined (http
   * routes are checked per request, by forward).
   */
  connectionRule(conn: Pick<AdmittedConnection, 'sni' | 'listener' | 'client' | 'namesVouched'>): string | undefined;
}

export interface AdmissionOptions {
  /** the policy of now, read once per admission and once per re-verification */
  policy: () => AdmissionPolicy;
  /**
   * A re-verification no longer admits `conn` (closed right after this):
   * forward drops what it gave the client and logs it as revoked.
   */
  onRevoked(conn: AdmittedConnection, reason: string): void;
  /** for a client that leaves while its revocation status is fetched */
  logger: Pick<EdgeLogger, 'info'>;
}

interface Tracked extends AdmittedConnection {
  client: CertificateInfo | undefined;
  path: ClientPath | undefined;
  revoked?: string;
}

export class Admission {
  private nextId = 1;
  /** admitted connections still open: what a re-verification checks */
  private readonly open = new Map<number, Tracked>();
  private readonly opts: AdmissionOptions;

  constructor(opts: AdmissionOptions) {
    this.opts = opts;
  }

  /**
   * Decides on a connection whose handshake is done and hands the decision to
   * `handOver` — at once, or once the client's revocation status has been
   * fetched (a distribution point's first CRL, OCSP). Every admitted
   * connection is kept for its re-verification while it is open.
   */
  admit(socket: TLSSocket, listener: string, handOver: (conn: AdmittedConnection) => void): void {
    const startedAt = performance.now();
    const id = this.nextId++;
    const policy = this.opts.policy();
    const sni = (socket as TLSSocket & { servername?: string | false }).servername || undefined;
    const verdict = policy.verifier.verify(socket);
    if (!(verdict instanceof Promise)) {
      handOver(this.decided({ id, socket, listener, sni, startedAt }, policy, verdict));
      return;
    }
    verdict.then((v) => {
      if (socket.destroyed) {
        this.opts.logger.info({ conn: id, listener, outcome: 'closed', reason: 'the client left while its revocation status was fetched' }, 'connection');
        return;
      }
      handOver(this.decided({ id, socket, listener, sni, startedAt }, policy, v));
    });
  }

  /** The admitted connection for `verdict`, after the connection-mode rule; kept when admitted. */
  private decided(at: { id: number; socket: TLSSocket; listener: string; sni: string | undefined; startedAt: number }, policy: AdmissionPolicy, given: ClientVerdict): AdmittedConnection {
    const { id, socket, listener, sni, startedAt } = at;
    let verdict = given;
    let rule: string | undefined;
    if (verdict.ok) {
      rule = policy.connectionRule({ sni, listener, client: verdict.client, namesVouched: verdict.namesVouched });
      if (rule) verdict = { ok: false, reason: 'not allowed', detail: `${rule} does not admit this client`, client: verdict.client };
    }
    if (handshakeChannel.hasSubscribers) handshakeChannel.publish({ id, sni, listener, verdict, durationMs: performance.now() - startedAt });
    let chain: Buffer[] | undefined;
    const conn: Tracked = {
      id, socket, listener, sni, peer: peerOf(socket), startedAt, verdict, rule,
      client: verdict.ok ? verdict.client : undefined,
      path: verdict.ok ? verdict.path : undefined,
      namesVouched: verdict.ok && verdict.namesVouched,
      chain: () => (chain ??= peerChainDer(socket)),
    };
    if (verdict.ok && conn.client) {
      this.open.set(id, conn);
      socket.once('close', () => this.open.delete(id));
    }
    return conn;
  }

  /**
   * Every open admitted connection checked again against `trust` and the
   * current policy (deny list, connection-mode rules), as a handshake would
   * be: the path it was admitted by, leaf first, against the CRLs and CAs of
   * now. One no longer admitted is handed to `onRevoked`, then closed.
   */
  recheck(trust: ClientTrust): void {
    const policy = this.opts.policy();
    for (const conn of [...this.open.values()]) {
      const client = conn.client;
      if (!client || conn.revoked) continue;
      let verdict = policy.verifier.recheck({ client, path: conn.path, namesVouched: conn.namesVouched }, trust);
      if (verdict.ok) {
        conn.path = verdict.path;
        // a reload that narrows a connection-mode route's rule closes who it no longer admits
        const rule = policy.connectionRule(conn);
        if (rule) verdict = { ok: false, reason: 'not allowed', detail: `${rule} no longer admits this client`, client };
      }
      if (verdict.ok) continue;
      conn.revoked = verdict.reason;
      this.open.delete(conn.id);
      this.opts.onRevoked(conn, verdict.reason);
      conn.socket.destroy();
    }
  }

  /** admitted connections open now */
  get size(): number { return this.open.size; }
}
