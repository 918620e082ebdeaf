import type { SecureContext } from 'node:tls';
import type { RouteConfig } from '../config/index.js';
import type { CertificateInfo } from '../pki/index.js';
import type { ConnectionRoutes } from './router.js';
import type { UpstreamCluster } from './upstream-cluster.js';
import type { PresentedIdentity } from './upstream-diagnosis.js';

/** What forward keeps of one client connection the edge admitted (edge/admission.ts), for its life. */
export interface ClientConnection {
  id: number;
  /** the verified client certificate; undefined for an anonymous client */
  client: CertificateInfo | undefined;
  /**
   * a configured client CA vouched for the certificate's names (the verdict's
   * namesVouched): when false (clientAuth mode any) no name of it reaches the
   * upstream or matches an access rule, only its identity
   */
  namesVouched: boolean;
  /** certificates the client sent after its leaf (for Client-Cert-Chain) */
  chain: Buffer[];
  sni: string | undefined;
  /** the name of the listener it came in on (`main` for `listen`) */
  listener: string;
  remoteAddress: string;
  routes: ConnectionRoutes;
  /** the router that computed `routes` (a reload brings a new one) */
  router?: object;
  /** set when the client was refused: in http mode every request is answered with this */
  refusal?: { status: number; reason: string; detail: string };
  /** set when the connection is closed because its client is no longer trusted (revoked, …): the reason */
  revoked?: string;
  /** set when a reload removed what the connection uses (its route, upstream or server): closed after the grace period */
  retired?: string;
  /** per-connection memo: the binding of each route (a reload's routes are new objects, so they bind anew) */
  bindings?: WeakMap<RouteConfig, UpstreamBinding>;
  /** per-connection memo: the last Host an HTTP/1.1 request sent and what admission made of it */
  lastHost?: { sent: string | undefined; verdict: { ok: true; host: string | undefined } | { ok: false; reason: string } };
  /** per-connection memo: the forwarding fields (X-Forwarded-For, …) for the last Host, when no trusted proxy's are kept */
  forwarding?: { host: string | undefined; fields: string[] };
  /** per-connection memo: identity headers by route, keyed by format */
  headerCache: Map<string, Record<string, string | string[]>>;
}

/** How a request or connection reaches its upstream, with whose identity. */
export interface UpstreamBinding {
  cluster: UpstreamCluster;
  context: SecureContext;
  /** pools and sessions are never shared across different keys */
  identityKey: string;
  sessions?: Map<string, Buffer>;
  /**
   * The identity's credentials as of now, for upstream connections opened later:
   * a pool outlives the minted certificate it started with. Absent when the
   * context never changes (proxy certificate, anonymous).
   */
  current?: () => { context: SecureContext; sessions?: Map<string, Buffer> };
  /** the client identity, for `balance: identity-hash` (undefined: anonymous) */
  balanceKey?: string;
  /** identity headers to add (header/both identity) */
  headers?: Record<string, string | string[]>;
  /** what the presented client certificate is, for the diagnosis of an upstream refusal */
  presenting?: PresentedIdentity;
  /** serial of the minted certificate presented (delegated identity), for the audit log */
  serial?: string;
}

export type BindUpstream = (route: RouteConfig, conn: ClientConnection) => UpstreamBinding;
