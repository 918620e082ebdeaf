/**
 * How a client reaches a route's upstream, with whose identity: a minted
 * certificate (delegated), the route's own proxy certificate plus identity
 * headers (header), or both. Built once per runtime from the config; the edge
 * (connection mode) and the http engine ask it for a binding.
 */
import type { SecureContext } from 'node:tls';
import type { RouteConfig, UpstreamConfig } from '../config/index.js';
import type { CertificateInfo, KeyMaterial } from '../pki/index.js';
import { CountersignError } from '../errors.js';
import type { ClientConnection, UpstreamBinding } from './client-connection.js';
import { encodeIdentityHeaders, IDENTITY_HEADER_CODECS } from '../identity-headers/index.js';
import type { UpstreamCluster } from './upstream-cluster.js';
import { presentedIdentity, type PresentedIdentity } from './upstream-diagnosis.js';

/**
 * The pool and session key of a client's minted identity. A minting whose names
 * were not vouched for is another identity upstream (another subject), so its
 * connections are never shared with the vouched one's.
 */
export function delegatedIdentityKey(certSha256: string, namesVouched: boolean): string {
  return namesVouched ? certSha256 : `${certSha256}:unvouched`;
}
/** Both keys a client certificate's pools may be under (to drop them all). */
export const delegatedIdentityKeys = (certSha256: string): string[] => [delegatedIdentityKey(certSha256, true), delegatedIdentityKey(certSha256, false)];

/** What the binder needs of the delegation minter: current credentials of a client. */
export interface CredentialSource {
  credentialsFor(client: CertificateInfo, request: { namesVouched: boolean }): {
    secureContext(key: { upstream: string; digest: string }, build: (c: { chainPem: string; keyPem: string }) => SecureContext): SecureContext;
    sessions: Map<string, Buffer>;
    /** the minted certificate's serial (for the audit log) */
    readonly serial?: string;
  };
}

export interface IdentityBinderOptions {
  routes: readonly RouteConfig[];
  upstreams: Readonly<Record<string, UpstreamConfig>>;
  clusters: ReadonlyMap<string, UpstreamCluster>;
  /** each route's proxy certificate, by route index, as read for this generation (upstream-files.ts) */
  proxyCerts: ReadonlyMap<number, KeyMaterial>;
  /** the delegation minter; undefined when no route delegates */
  minter?: CredentialSource;
  /** the delegation CA certificate (PEM), named in the diagnosis when an upstream refuses a minted certificate */
  delegationCaCert?: Buffer;
}

export class IdentityBinder {
  /** header-mode routes present their own proxy certificate; pools are keyed by route, so two never share one */
  private readonly proxyIdentities = new Map<RouteConfig, { context: SecureContext; identityKey: string; presenting: PresentedIdentity }>();
  /** what a minted certificate is, for the diagnosis of an upstream refusal */
  private readonly delegatedPresenting: PresentedIdentity;

  constructor(private readonly opts: IdentityBinderOptions) {
    for (const [i, r] of opts.routes.entries()) {
      const m = opts.proxyCerts.get(i);
      if (!r.proxyCert || !m) continue;
      this.proxyIdentities.set(r, {
        context: opts.clusters.get(r.upstream)!.buildContext({ certPem: m.certPem, keyPem: m.keyPem }), identityKey: `proxy:${i}`,
        presenting: presentedIdentity('proxyCert', `routes[${i}].proxyCert`, m.certPem),
      });
    }
    this.delegatedPresenting = presentedIdentity('delegated', 'delegation.ca', opts.delegationCaCert);
  }

  /** The TLS context an active health check of `upstream` presents: a route's proxy certificate, else none. */
  healthContext(upstream: string): SecureContext | undefined {
    const route = this.opts.routes.find((r) => r.upstream === upstream && this.proxyIdentities.has(r));
    return route ? this.proxyIdentities.get(route)!.context : undefined;
  }

  /** The binding of one connection (connection mode) or request (http mode) to its route's upstream; throws when minting fails. */
  readonly bind = (route: RouteConfig, conn: ClientConnection): UpstreamBinding => {
    const cluster = this.opts.clusters.get(route.upstream)!;
    const sendsHeaders = (route.identity === 'header' || route.identity === 'both') && conn.client !== undefined;
    // `check` refuses these formats under clientAuth mode any; this holds even if a config slipped past it
    if (sendsHeaders && !conn.namesVouched && IDENTITY_HEADER_CODECS[route.header].sendsNames) {
      throw new CountersignError('ERR_IDENTITY_HEADER_VALUE', `header: ${route.header} would send names that no client CA vouched for; refused (use header: kes or rfc9440, or clientAuth mode require)`);
    }
    const headers = sendsHeaders ? this.headersFor(route, conn) : undefined;
    const balanceKey = conn.client?.identity;
    if (route.identity === 'header') {
      const p = this.proxyIdentities.get(route)!;
      // identity-hash sends each identity to its own server, so its connections cannot be shared
      const identityKey = balanceKey && this.opts.upstreams[route.upstream].balance === 'identity-hash' ? `${p.identityKey}:${balanceKey}` : p.identityKey;
      return { cluster, ...p, identityKey, headers, balanceKey };
    }
    if (!conn.client) return { cluster, context: cluster.anonymous(), identityKey: 'anonymous', headers, presenting: { what: 'none' } };
    const client = conn.client;
    const namesVouched = conn.namesVouched;
    const minter = this.opts.minter!;
    const current = () => {
      const creds = minter.credentialsFor(client, { namesVouched });
      // keyed by the cluster's settings digest: a reload that swaps its CA never reaches a context built with the old one
      const context = creds.secureContext({ upstream: cluster.name, digest: cluster.tlsDigest }, (c) => cluster.buildContext({ certPem: c.chainPem, keyPem: c.keyPem }));
      return { context, sessions: creds.sessions, serial: creds.serial };
    };
    return { cluster, ...current(), current, identityKey: delegatedIdentityKey(client.certSha256, namesVouched), headers, balanceKey, presenting: this.delegatedPresenting };
  };

  /** The identity headers of a route for a connection, encoded once per connection and format. */
  headersFor(route: RouteConfig, conn: ClientConnection): Record<string, string | string[]> {
    const key = `${route.header}\0${route.headerName ?? ''}`;
    let headers = conn.headerCache.get(key);
    if (!headers) {
      // only a format that sends the chain gets it: the connection's chain was collected for its first route,
      // and a request may go to another route's format
      const chain = IDENTITY_HEADER_CODECS[route.header].sendsChain ? conn.chain : undefined;
      headers = encodeIdentityHeaders(route.header, { der: conn.client!.der, chain }, { headerName: route.headerName });
      conn.headerCache.set(key, headers);
    }
    return headers;
  }
}
