/**
 * The configuration schema: the single source for validation, types and
 * docs/configuration.md. Unknown keys are errors (strict objects everywhere).
 * Defaults live in DEFAULTS and are applied here, in one place.
 */
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseCidr } from './cidr.js';
import { parseSpiffePattern } from '../pki/index.js';
import { parseHostPort } from './host-port.js';
import { IDENTITY_HEADER_FORMATS, identityHeaderCodec } from '../identity-headers/index.js';
import { CountersignError } from '../errors.js';

export const DEFAULTS = {
  listen: '0.0.0.0:8443',
  workers: 1,
  minVersion: 'TLSv1.2',
  upstreamMinVersion: 'TLSv1.3',
  clientAuthMode: 'require',
  handshakeTimeout: '10s',
  idleTimeout: '5m',
  keepAliveTimeout: '75s',
  maxConnections: 10_000,
  connectTimeout: '5s',
  requestTimeout: '60s',
  shutdownGrace: '10s',
  /**
   * connection mode, after the upstream closed: how long what it sent may take
   * to reach the client before both sides are closed (a client that stops
   * reading must not hold the connection open)
   */
  upstreamCloseDrainMs: 1_000,
  delegationTtl: '1h',
  delegationCache: 10_000,
  delegationCacheMemoryMiB: 64,
  failTimeout: '10s',
  connectRace: '300ms',
  upstreamHttp2: 'auto',
  maxHeaderSize: 16_384,
  agentsPerUpstream: 256,
  maxHeaderCount: 100,
  /**
   * Mozilla's "intermediate" list (ssl-config.mozilla.org, v5.7): TLS 1.3 suites,
   * then TLS 1.2 with ECDHE/DHE and AEAD only (no CBC, no static RSA).
   */
  edgeCiphers: [
    'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305', 'DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  maxChainDepth: 4,
  revocationGrace: '1h',
  revocationRefreshInterval: '1h',
  revocationTimeout: '5s',
  stateDir: 'state',
  revocationOnUnavailable: 'refuse',
  http2ResetBurst: 100,
  http2ResetRate: 10,
  logLevel: 'info',
  acmeChallenge: 'http-01',
  acmeHttpListen: '0.0.0.0:80',
  /** how often the renewal loop looks at certificates even when nothing is due (certmagic: 10 min) */
  acmeRenewCheckInterval: '10m',
  /** renew when this fraction of a certificate's lifetime remains (certmagic's 1/3) */
  acmeRenewalWindowRatio: 1 / 3,
  /** first retry delay after a failed issuance or renewal (doubles, jittered) */
  acmeRetryMin: '1m',
  /** cap of that retry delay */
  acmeRetryMax: '1h',
  /** first and longest wait between polls of a pending challenge or order */
  acmePollMin: '500ms',
  acmePollMax: '5s',
  /** a challenge or order still pending this long fails the attempt */
  acmeValidationTimeout: '2m',
  /** per HTTP request to the ACME server */
  acmeRequestTimeout: '30s',
  healthType: 'tls',
  healthInterval: '5s',
  healthTimeout: '2s',
  healthPath: '/',
  healthExpectStatus: 200,
  healthUnhealthyAfter: 2,
  healthHealthyAfter: 2,
  acmeEtcdPrefix: '/countersign/acme/',
  acmeEtcdLockTtl: '30s',
} as const;

/**
 * Keys that existed once: a config that still sets one is told what became of
 * it (instead of "unknown key"), by `check`, `start` and a reload alike.
 */
export const REMOVED_KEYS: Readonly<Record<string, string>> = {
  'http.http1': 'is gone: http mode has one engine for HTTP/1.1 and HTTP/2 clients (and upgrades) since issue 24; delete the key',
};

/** pino's levels, for `log.level` and the CLI's `--log-level` */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** bounds of delegation.ttl: short-lived is the promise */
export const DELEGATION_TTL_MIN_MS = 60_000;
export const DELEGATION_TTL_MAX_MS = 86_400_000;

/**
 * A string whose wrong type (YAML reads `idle: 300` and `- 1234` as numbers)
 * gets the same hint a malformed string gets, not zod's "expected string".
 * A missing value keeps zod's message, which the loader turns into "is required".
 */
const text = (hint: (input: unknown) => string) =>
  z.string({ error: (issue) => (issue.input === undefined ? undefined : hint(issue.input)) });
const shown = (input: unknown) => (typeof input === 'number' ? `the number ${input}` : JSON.stringify(input) ?? String(input));

/** the name of the listener on `listen` */
export const MAIN_LISTENER = 'main';
/** what may come before TLS on a listener, by protocol */
export const LISTENER_STARTTLS = ['postgres', 'mysql', 'nats'] as const;
/** what an upstream says before TLS */
export const UPSTREAM_STARTTLS = ['postgres', 'mysql', 'nats'] as const;
/** protocols whose server speaks first (its greeting before the client's TLS request) */
export const SERVER_FIRST_STARTTLS: readonly string[] = ['mysql', 'nats'];
const listenerName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a listener name uses letters, digits, _ . - (at most 64)');

const DURATION_HINT = 'write it like 500ms, 30s, 5m, 1h or 7d';
const duration = (def: string) =>
  text((input) => (typeof input === 'number'
    ? `the number ${input} is not a duration: give its unit, e.g. "${input}s" or "${input}ms" (500ms, 30s, 5m, 1h, 7d)`
    : `${shown(input)} is not a duration; ${DURATION_HINT}`))
    .default(def).transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration; ${DURATION_HINT}` });
        return z.NEVER;
      }
      return ms;
    });

const HOST_PORT_HINT = 'expected host:port, e.g. 127.0.0.1:8443 or [::1]:8443';
const hostPort = text((input) => `${HOST_PORT_HINT}; got ${shown(input)}`).refine((s) => parseHostPort(s) !== undefined, {
  message: HOST_PORT_HINT,
});
const file = z.string().min(1, 'a file path is required');
const files = z.union([file, z.array(file).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));
const keyPair = z.strictObject({ cert: file.describe('certificate PEM (a chain may follow the leaf)'), key: file.describe('private key PEM (mode 0600)') });
const IDENTITY_HINT = 'an identity is 64 lowercase hex characters (countersign identity of FILE prints it)';
const identity = text((input) => `${IDENTITY_HINT}; got ${shown(input)}${typeof input === 'number' ? ' (quote an identity in YAML: one of only digits is read as a number)' : ''}`)
  .regex(/^[0-9a-f]{64}$/, IDENTITY_HINT);
const tlsVersion = z.enum(['TLSv1.2', 'TLSv1.3']);

/**
 * A config map as an object without a prototype: `upstreams.constructor` or
 * `upstreams.toString` is undefined unless the config defines it, wherever it
 * is looked up.
 */
function ownMap<T>(r: Record<string, T>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const k of Object.keys(r)) out[k] = r[k];
  return out;
}

function opensslAccepts(ciphers: string): boolean {
  try { createSecureContext({ ciphers }); return true; } catch { return false; }
}
const etcdStorageSchema = z.strictObject({
  endpoints: z.array(z.string().regex(/^https:\/\/[^\s/]+(:\d{1,5})?\/?$/, 'an etcd endpoint is an https:// URL, e.g. https://etcd-1.internal:2379 (keys are written only over TLS)')).min(1)
    .describe('etcd members, `https://host:2379`; plain http is refused'),
  prefix: z.string().min(1).default(DEFAULTS.acmeEtcdPrefix).describe('key prefix; instances sharing certificates use the same one'),
  tls: z.strictObject({
    ca: file.describe('CA bundle that verifies the etcd servers\' certificates'),
    cert: file.describe('client certificate presented to etcd (etcd runs with --client-cert-auth)'),
    key: file.describe('its private key (mode 0600)'),
  }, { error: (i) => (i.input === undefined ? 'etcd storage needs tls: { ca, cert, key } (a client certificate): ACME keys are written to etcd only over mTLS' : undefined) })
    .describe('mTLS to etcd: required, since etcd then holds the ACME account key and the certificates\' private keys'),
  lockTtl: duration(DEFAULTS.acmeEtcdLockTtl).describe('lease TTL of the order lock: an instance that dies mid-order loses the lock this long after its last keep-alive, and another one takes over'),
});

const acmeSchema = z.strictObject({
  directory: z.string().min(1).describe('ACME directory URL, or `letsencrypt` / `letsencrypt-staging`'),
  ca: file.optional().describe('PEM bundle that verifies a private ACME server (step-ca, Pebble)'),
  email: z.string().email().optional().describe('account contact address'),
  domains: z.array(z.string().min(1)).min(1).describe('names to obtain certificates for'),
  challenge: z.enum(['http-01', 'tls-alpn-01']).default(DEFAULTS.acmeChallenge).describe('`http-01` answers on httpListen; `tls-alpn-01` on `listen` itself (must be port 443 publicly)'),
  httpListen: hostPort.optional().describe('plain-HTTP listener: answers http-01 and redirects every other request to https; default 0.0.0.0:80 with http-01, none with tls-alpn-01'),
  storage: z.union([file, z.strictObject({ etcd: etcdStorageSchema.describe('etcd over mTLS, shared by a fleet: one instance orders each certificate (an etcd lease is the lock), every instance serves it') })])
    .describe('directory for the account key, certificates and keys (0600), reused after a restart; or `{ etcd: { endpoints, prefix, tls } }` to share them across instances'),
  eab: z.strictObject({ kid: z.string().min(1).describe('key identifier'), hmacKey: z.string().min(1).describe('base64url HMAC key') }).optional().describe('external account binding: key id and base64url HMAC key from the CA'),
  renewCheckInterval: duration(DEFAULTS.acmeRenewCheckInterval).describe('how often the renewal loop looks at the certificates'),
});

/**
 * Edge access rules (ghostunnel's --allow-*): a client is allowed when any
 * listed value matches its certificate. Every list given must hold at least one
 * value (an empty list can never match), and nothing but `uri`'s trailing `/*`
 * is a wildcard.
 */
const allowList = (what: string, item: z.ZodType<string>) => z.array(item).min(1, `an empty ${what} list can never match; remove it or list a value`);
const allowSchema = z.strictObject({
  cn: allowList('cn', z.string().min(1)).optional().describe('subject common names, compared exactly'),
  ou: allowList('ou', z.string().min(1)).optional().describe('subject organizational units (any of the certificate\'s OUs), compared exactly'),
  o: allowList('o', z.string().min(1)).optional().describe('subject organizations (any of the certificate\'s Os), compared exactly'),
  dns: allowList('dns', z.string().regex(/^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$/, 'a DNS name like db.example.com (no wildcard: names are compared exactly, case-insensitively)')).optional()
    .describe('DNS subjectAltNames, compared case-insensitively; no wildcards'),
  uri: allowList('uri', z.string().superRefine((s, ctx) => {
    const p = parseSpiffePattern(s);
    if ('error' in p) ctx.addIssue({ code: 'custom', message: `"${s.length > 80 ? s.slice(0, 80) + '…' : s}" is not a SPIFFE ID: ${p.error} (e.g. spiffe://corp/ns/db/sa/api, or spiffe://corp/ns/db/* for one more path segment)` });
  })).optional().describe('SPIFFE IDs in the URI subjectAltName; a last path segment `*` matches exactly one segment (`spiffe://corp/ns/db/*`)'),
  email: allowList('email', z.string().regex(/^[^@\s]+@[^@\s]+$/, 'an email address like alice@example.com')).optional().describe('email subjectAltNames (rfc822Name); the domain is compared case-insensitively'),
  identities: allowList('identities', identity).optional().describe('identities (hex SHA-256 of the public key, `countersign identity of FILE`)'),
}).refine((a) => Object.values(a).some((v) => v !== undefined), 'an allow rule with no list can never match; list at least one of cn, ou, o, dns, uri, email, identities');

const edgeSchema = z.strictObject({
  certificates: z.array(keyPair).default([]).describe('server certificates `{ cert, key }`, chosen by SNI from their SANs; the first is the default'),
  minVersion: tlsVersion.default(DEFAULTS.minVersion).describe('lowest TLS version clients may use'),
  ciphers: z.string().min(1).default(DEFAULTS.edgeCiphers).refine(opensslAccepts, 'OpenSSL accepts none of these ciphers; give an OpenSSL cipher list, e.g. ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256')
    .describe('OpenSSL cipher list offered to clients (TLS 1.3 suites by their TLS_ names); default Mozilla\'s "intermediate": AEAD with forward secrecy only'),
  clientAuth: z.strictObject({
    mode: z.enum(['require', 'optional', 'any']).default(DEFAULTS.clientAuthMode).describe('`require`: chain must verify to `ca`; `optional`: same, but no certificate is allowed (anonymous); `any`: any currently valid certificate, self-signed included. In mode `any` a name no `ca` vouches for never reaches a backend as a name: such a client is minted `CN=<its identity>` without its SANs, access rules on names do not match it, and `header: xfcc` / `k8s-front-proxy` are refused'),
    ca: files.optional().describe('CA bundle(s) client certificates must chain to (one file or a list). With mode `any`, optional: the clients it vouches for keep their names (subject, SANs); the TLS server then lists these CAs in its certificate request, and a Go client sends only a certificate one of them issued'),
    crl: files.optional().describe('CRL file(s), PEM or DER; revoked clients are refused, and when a CRL changes the open connections of clients it now revokes are closed'),
    revocation: z.strictObject({
      fetch: z.boolean().default(false).describe('fetch CRLs from the `http:` distribution points named in the client CAs\' and clients\' certificates (each verified with its CA\'s key, kept in memory and under `stateDir`, refreshed before nextUpdate and every `refreshInterval`); a certificate that names one must then have a usable CRL from it (else `onUnavailable`). Changing it needs a restart'),
      ocsp: z.enum(['off', 'soft', 'hard']).default('off').describe('OCSP for client certificates: each certificate of a client\'s chain that names an `http:` responder in its authorityInfoAccess is asked about once (answers cached until their nextUpdate, at most `refreshInterval`, and asked again while cached: a `revoked` answer closes that client\'s open connections). `hard`: a client whose status cannot be learned is refused; `soft`: it is admitted and the failure logged. Changing it needs a restart'),
      refreshInterval: duration(DEFAULTS.revocationRefreshInterval).describe('at most this long between two fetches of one CRL, or two OCSP requests about one certificate (sooner when a nextUpdate comes first); after a failure, retries back off from 1 s up to this'),
      timeout: duration(DEFAULTS.revocationTimeout).describe('one CRL fetch or OCSP request may take this long; a client waiting for the first answer about its certificates waits at most this'),
      onUnavailable: z.enum(['refuse', 'admit']).default(DEFAULTS.revocationOnUnavailable)
        .describe('when no usable CRL tells whether a client\'s certificate is revoked (none loaded for its issuer, or the last good one is past its nextUpdate and `grace`): `refuse` the client, or `admit` it'),
      grace: duration(DEFAULTS.revocationGrace).describe('a CRL is still used this long past its nextUpdate (the last good one is kept while a fresh one cannot be had); after that `onUnavailable` applies'),
    }).prefault({}).describe('how revocation is checked: every certificate of a client\'s chain (leaf and intermediates) is looked up in its issuer\'s CRL on every connection and again for open connections when a CRL changes'),
    maxChainDepth: z.number().int().min(1).max(16).default(DEFAULTS.maxChainDepth).describe('max certificates above the client\'s leaf (intermediates and root), like nginx\'s ssl_verify_depth; deeper chains are refused'),
  }).describe('how clients are authenticated'),
  deny: z.array(identity).default([]).describe('identities never served, e.g. a KES root identity'),
  allow: allowSchema.optional().describe('access rules for routes that have none: `{ cn, ou, o, dns, uri, email, identities }`, each a list; a client is allowed when any listed value matches its certificate (ghostunnel\'s --allow-*); others are refused before anything is minted. Names match only when a `clientAuth.ca` vouched for them (in mode `any`, a self-signed certificate matches only by `identities`)'),
  handshakeTimeout: duration(DEFAULTS.handshakeTimeout).describe('max time for a client TLS handshake'),
  acme: acmeSchema.optional().describe('certificates issued and renewed by an ACME server'),
  sessionTickets: z.strictObject({
    keyFile: file.describe('80 (or 48) random bytes, nginx\'s ssl_session_ticket_key format: `openssl rand 80 > tickets.key`, mode 0600; watched and re-read when it changes'),
  }).optional().describe('TLS session-ticket key shared by a fleet, so a client resumes on any instance; without it each instance (or set of workers) draws its own'),
  reloadPollInterval: duration('2s').describe('how often certificate, CA and CRL files are checked for changes (file events also trigger reloads)'),
  starttls: z.array(z.enum(['postgres'])).optional().describe('pre-TLS requests the listener answers: `postgres` answers PostgreSQL\'s SSLRequest with `S` (and GSSENCRequest with `N`), then runs the normal TLS handshake; direct TLS still works on the same listener'),
  proxyProtocol: z.strictObject({
    trusted: z.array(z.string().refine((s) => parseCidr(s) !== undefined, { message: 'expected a CIDR block like 10.0.0.0/8, ::1/128, or an address' })).min(1)
      .describe('sources (CIDR blocks) that must send a PROXY v1/v2 header; a header from any other source is refused'),
  }).optional().describe('PROXY protocol from L4 balancers: the address in the header is the client address in logs, X-Forwarded-For and deny decisions'),
});

const healthSchema = z.strictObject({
  type: z.enum(['tls', 'http']).default(DEFAULTS.healthType).describe('`tls`: complete a TLS handshake (the chosen ALPN is recorded); `http`: GET `path` over TLS and expect `expectStatus`'),
  interval: duration(DEFAULTS.healthInterval).describe('time between two checks of a server'),
  timeout: duration(DEFAULTS.healthTimeout).describe('a check that takes longer fails'),
  path: z.string().startsWith('/').default(DEFAULTS.healthPath).describe('http checks: the path to GET'),
  expectStatus: z.number().int().min(100).max(599).default(DEFAULTS.healthExpectStatus).describe('http checks: the status a healthy server answers'),
  unhealthyAfter: z.number().int().positive().default(DEFAULTS.healthUnhealthyAfter).describe('consecutive failed checks that mark a server unhealthy'),
  healthyAfter: z.number().int().positive().default(DEFAULTS.healthHealthyAfter).describe('consecutive passed checks that mark an unhealthy server healthy again'),
});

const upstreamSchema = z.strictObject({
  servers: z.array(hostPort).min(1, 'an upstream needs at least one server').describe('host:port of each server'),
  ca: files.describe('CA bundle that verifies the servers\' certificates'),
  servername: z.string().min(1).optional().describe('name checked in the server certificate and sent as SNI; default: the server host'),
  minVersion: tlsVersion.default(DEFAULTS.upstreamMinVersion).describe('lowest TLS version to the upstream'),
  balance: z.enum(['round-robin', 'least-connections', 'identity-hash']).default('round-robin').describe('how a server is picked, in both modes: `round-robin`, `least-connections`, or `identity-hash` (the same client identity goes to the same healthy server; rendezvous hashing moves few identities when servers come and go)'),
  connectTimeout: duration(DEFAULTS.connectTimeout).describe('max time to connect and complete the upstream handshake'),
  failTimeout: duration(DEFAULTS.failTimeout).describe('a server that failed is skipped this long (unless all have failed)'),
  health: healthSchema.optional().describe('active health checks of every server (passive ejection by failTimeout stays)'),
  alpn: z.array(z.string().min(1).max(255)).optional().describe('override: the ALPN protocols the servers speak, in preference order (`[]` for none). Default: learned from each server by probe handshakes (h2, http/1.1, http/1.0, mqtt, postgresql and protocols clients offer); on connection-mode routes the edge negotiates only what the servers speak and offers the chosen one upstream'),
  starttls: z.enum(UPSTREAM_STARTTLS).optional().describe('what the server says before TLS. `postgres`: send PostgreSQL\'s SSLRequest and expect `S`. `mysql` (MySQL, MariaDB) and `nats` (NATS 2.9 and later): the server speaks first — on a listener with the same `starttls` its greeting (with its auth nonce) is relayed to the client and the client\'s own TLS request passed on; health checks and `check --connect` send their own'),
  proxyProtocol: z.enum(['v1', 'v2']).optional().describe('connection mode: send a PROXY protocol header with the client\'s address before anything else'),
  connectRace: duration(DEFAULTS.connectRace).describe('while a server\'s connect is pending this long, start the next server\'s connect too (happy eyeballs); the first to finish its handshake wins'),
  http2: z.enum(['auto', 'on', 'off']).default(DEFAULTS.upstreamHttp2).describe('http mode: the protocol to the servers. `auto`: an HTTP/2 client\'s requests go over HTTP/2 when the server selects it (ALPN offers h2 and http/1.1; gRPC needs it), an HTTP/1.1 client\'s over HTTP/1.1, as connection mode offers upstream the protocol the client chose; `on`: every request over HTTP/2 (a server that does not speak it fails the connect); `off`: HTTP/1.1 only. Upgrades (WebSocket) always go over HTTP/1.1'),
});

const routeSchema = z.strictObject({
  upstream: z.string().min(1).describe('name of the upstream cluster'),
  match: z.strictObject({
    sni: z.string().min(1).optional().describe('server name the client asked for; `*.example.com` matches one label'),
    host: z.string().min(1).optional().describe('HTTP Host (http mode)'),
    pathPrefix: z.string().startsWith('/').optional().describe('request path prefix (http mode), matched on whole segments: `/v1/status` serves `/v1/status` and `/v1/status/…` (any query), never `/v1/statusfoo`; the longest match wins'),
    listener: listenerName.optional().describe('the listener the client came in on (`main` is `listen`, else a `listeners[].name`). A listener that some route names is served only by the routes that name it; the others are served by the routes that name none'),
  }).optional().describe('what the route serves; a route with no match is the default'),
  mode: z.enum(['connection', 'http']).default('connection').describe('`connection`: one upstream TLS connection per client connection, bytes piped; `http`: requests forwarded through per-identity pools'),
  identity: z.enum(['delegated', 'header', 'both']).default('delegated').describe('`delegated`: present a minted certificate; `header`: present proxyCert and send the client certificate in a header; `both`'),
  header: z.enum(IDENTITY_HEADER_FORMATS).default('kes').describe('identity header format: `kes`/`nginx` X-Tls-Client-Cert, `rfc9440` Client-Cert, `xfcc` X-Forwarded-Client-Cert, `k8s-front-proxy` X-Remote-User (CN) and one X-Remote-Group per O (Kubernetes request-header authentication, with proxyCert as the front-proxy certificate)'),
  headerName: z.string().min(1).optional().describe('rename the identity header'),
  proxyCert: keyPair.optional().describe('the proxy\'s own client certificate for header identity (the one the backend lists as a trusted proxy)'),
  allowAnonymous: z.boolean().default(false).describe('with clientAuth.mode optional: forward clients without a certificate'),
  allow: allowSchema.optional().describe('access rules of this route (replacing edge.allow): a client is allowed when any listed value matches; checked once per connection (connection mode) or per request routed here (http mode), resumed sessions included'),
}).superRefine((r, ctx) => {
  // the header format's own option check (a token; none for k8s-front-proxy), so `check` refuses what a request would
  try {
    identityHeaderCodec(r.header).encoder({ headerName: r.headerName });
  } catch (err) {
    if (!(err instanceof CountersignError)) throw err;
    ctx.addIssue({ code: 'custom', path: ['headerName'], message: err.message });
  }
});

const listenerSchema = z.strictObject({
  name: listenerName.refine((n) => n !== MAIN_LISTENER, `"${MAIN_LISTENER}" is the name of \`listen\`; give this listener another name`).describe('what routes (`match.listener`), logs, `/status` and metrics call it'),
  listen: hostPort.describe('its address, host:port'),
  starttls: z.enum(LISTENER_STARTTLS).optional().describe('what comes before TLS on this port. `postgres` answers PostgreSQL\'s SSLRequest (direct TLS works too). `mysql` (MySQL, MariaDB) and `nats`: the server speaks first, so the listener has exactly one route, whose upstream (with the same `starttls`) is dialled as the client connects; its greeting is relayed with only the TLS flag set, the client\'s TLS request starts the handshake, and a client that does not ask for TLS gets the protocol\'s own error. Default: TLS first'),
});

export const configSchema = z.strictObject({
  listen: hostPort.default(DEFAULTS.listen).describe('address of the main TLS listener (named `main` in routes, logs and metrics)'),
  listeners: z.array(listenerSchema).default([]).describe('more ports beside `listen`, sharing the edge\'s certificates, client auth and rules: `{ name, listen, starttls }`; routes pick them by `match.listener`. A reload adds and removes them without touching the others\' connections'),
  workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default(DEFAULTS.workers)
    .describe('processes serving the listener (like nginx\'s worker_processes); `auto` is one per CPU. Each keeps its own delegation cache and upstream pools; TLS session tickets are shared'),
  edge: edgeSchema.describe('the client-facing TLS listener'),
  delegation: z.strictObject({
    ca: keyPair.describe('the delegation CA that signs minted certificates (basicConstraints CA:TRUE)'),
    ttl: duration(DEFAULTS.delegationTtl)
      .refine((ms) => ms >= DELEGATION_TTL_MIN_MS && ms <= DELEGATION_TTL_MAX_MS, 'must be at least 1m and at most 24h: minted certificates are short-lived (renewed after 2/3 of it)')
      .describe('lifetime cap of a minted certificate (never past the original\'s notAfter); between 1m and 24h'),
    cache: z.number().int().positive().default(DEFAULTS.delegationCache).describe('max cached minted certificates'),
    cacheMemoryMiB: z.number().positive().default(DEFAULTS.delegationCacheMemoryMiB).describe('memory budget of the minted-credentials cache, MiB (estimated: ~45 KiB an identity, most of it its upstream TLS context); the least recently used go first when either limit is reached'),
    embedOriginal: z.boolean().default(false).describe('embed the whole original certificate in the extension'),
    extensionOid: z.string().regex(/^\d+(\.\d+)+$/, 'an OID in dotted form').optional().describe('OID of the delegation extension; default 1.2.840.113556.1.8000.2554.52765.56834.36689.18876.35599.6052605.1115151.1 (UUID-derived; parseable by Go)'),
  }).optional().describe('how identity is vouched for with minted certificates'),
  upstreams: z.record(
    z.string().regex(/^[A-Za-z0-9_.-]+$/, 'upstream names use letters, digits, _ . -').refine((n) => n !== '__proto__', 'upstream name "__proto__" is reserved'),
    upstreamSchema,
  ).transform(ownMap).describe('named upstream clusters'),
  routes: z.array(routeSchema).min(1, 'at least one route is needed').describe('where connections and requests go'),
  timeouts: z.strictObject({
    idle: duration(DEFAULTS.idleTimeout).describe('connection mode: a client connection with no traffic either way this long is closed, with its upstream connection. The default (5m) is long on purpose: database clients keep pooled connections idle for minutes between queries (MySQL and MariaDB close an idle session after 8 hours by default, PostgreSQL never), and a pool learns of a cut connection only at its next query, as an error. Keep it above your pools\' idle and keep-alive times (nginx `stream`\'s proxy_timeout is 10m)'),
    keepAlive: duration(DEFAULTS.keepAliveTimeout).describe('http mode: how long a client connection (HTTP/1.1 keep-alive or HTTP/2) may wait for its next request before it is closed, like nginx\'s keepalive_timeout (75s)'),
    request: duration(DEFAULTS.requestTimeout).describe('http mode: max time for request headers from the client, for response headers from the upstream, and between body chunks. Waits on the upstream and on a client that does not read are checked by one coarse timer per HTTP/1.1 connection, as nginx\'s timers are coarse: they end between this and twice it'),
    shutdownGrace: duration(DEFAULTS.shutdownGrace).describe('on SIGTERM/SIGINT, how long open connections may finish'),
  }).prefault({}).describe('time limits'),
  limits: z.strictObject({
    maxHeaderSize: z.number().int().min(1024).default(DEFAULTS.maxHeaderSize).describe('max request header bytes (http mode); larger gets 431'),
    agentsPerUpstream: z.number().int().positive().default(DEFAULTS.agentsPerUpstream).describe('max per-identity upstream pools kept (http mode); the least recently used is closed'),
    maxConnections: z.number().int().positive().optional().describe(`max concurrent client connections per worker process (handshakes in progress included), like nginx\'s worker_connections. Default ${DEFAULTS.maxConnections}, or fewer when the open-file limit cannot hold two descriptors per connection (then (limit − 100) / 2, as HAProxy derives its maxconn). One more is closed on arrival, logged at warn (at most a line a second) and counted in countersign_connections_refused_total{reason="limit"}. Memory at the limit: ~130 KiB per connection-mode client (two TLS connections), ~70 KiB per http-mode client (docs/performance.md)`),
    maxHeaderCount: z.number().int().min(8).max(10_000).default(DEFAULTS.maxHeaderCount).describe('max request header fields (http mode, HTTP/1.1 and HTTP/2); more gets 431, nothing is cut silently'),
    http2Resets: z.strictObject({
      burst: z.number().int().positive().default(DEFAULTS.http2ResetBurst).describe('stream resets a client connection may send at once'),
      perSecond: z.number().positive().default(DEFAULTS.http2ResetRate).describe('stream resets per second it may keep sending'),
    }).prefault({}).describe('HTTP/2 rapid-reset limit (CVE-2023-44487) per client connection; past it the connection gets GOAWAY ENHANCE_YOUR_CALM and is closed'),
  }).prefault({}).describe('resource limits'),
  http: z.strictObject({
    trustedProxies: z.array(z.string().refine((s) => parseCidr(s) !== undefined, { message: 'expected a CIDR block like 10.0.0.0/8, ::1/128, or an address' })).optional()
      .describe('HTTP proxies in front of countersign (CIDR blocks) whose X-Forwarded-For, Forwarded and X-Forwarded-* are believed: their chain is kept and the peer appended, and the client address (X-Real-IP) is the last address in it that is not one of these (nginx `set_real_ip_from` with `real_ip_recursive on`, Envoy `xff_num_trusted_hops`). From every other peer those headers are dropped and set from the address the proxy saw (or the one a trusted PROXY-protocol balancer gave). Default: none'),
  }).prefault({}).describe('http mode'),
  log: z.strictObject({
    level: z.enum(LOG_LEVELS).default(DEFAULTS.logLevel).describe('log level'),
    pretty: z.boolean().default(false).describe('human-readable logs for a terminal instead of JSON lines (not with `file`)'),
    file: file.optional().describe('append JSON lines to this file instead of stdout; reopened on SIGUSR1 (for logrotate)'),
  }).prefault({}).describe('logging (pino JSON lines)'),
  stateDir: file.default(DEFAULTS.stateDir).describe('directory (created 0700) where state that should survive a restart is kept: CRLs fetched from distribution points. Relative to the config file\'s directory; when it cannot be written countersign keeps that state in memory only and says so once'),
  audit: z.strictObject({
    file: file.optional().describe('append the audit records (JSON lines) to this file, created 0600; a restart continues the hash chain from its last line; reopened on SIGUSR1'),
    stdout: z.literal(true).optional().describe('write the audit records to stdout instead (with log.file set, so stdout carries nothing else); the chain starts afresh at each start'),
  }).refine((a) => (a.file === undefined) !== (a.stdout === undefined), 'give exactly one of file or stdout: true')
    .optional().describe('audit log, off unless set: one hash-chained JSON record per connection and per http request (time, client address, identity, subject, route, upstream, minted serial, outcome, reason, duration, bytes); `countersign audit verify FILE` checks it'),
  admin: z.strictObject({
    listen: z.string().refine((v) => hostPort.safeParse(v).success || /^(\/|\.\/|\.\.\/)./.test(v), {
      message: 'expected host:port (e.g. 127.0.0.1:9901) or a unix socket path starting with / or ./',
    })
      .describe('`host:port` (keep it on loopback or a private network) or a unix socket path (created mode 0600); never the edge `listen` address'),
    hosts: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a host name (no port, no scheme)')).optional()
      .describe('names a TCP admin listener also answers to in the Host header (e.g. the DNS name Prometheus scrapes it by); accepted without it: its own address, any IP literal, and `localhost` on a loopback or wildcard address. Other Hosts get 403 (DNS rebinding)'),
  }).optional().describe('admin HTTP listener, off unless set: GET /healthz /readyz /metrics /status, POST /reload (see docs/operations.md)'),
  pidFile: file.optional().describe('file holding the process id of `countersign start` (the primary with workers), written mode 0644 at start and removed at stop; `countersign reload` sends SIGHUP to it when there is no admin listener. Default: beside the config file, its name with `.pid` (`countersign.yaml` → `countersign.pid`)'),
});

export type Config = z.output<typeof configSchema>;
export type RouteConfig = Config['routes'][number];
export type UpstreamConfig = Config['upstreams'][string];
export type EdgeConfig = Config['edge'];
export type HealthConfig = NonNullable<UpstreamConfig['health']>;
export type AdminConfig = NonNullable<Config['admin']>;
export type AllowConfig = z.output<typeof allowSchema>;
export type AcmeConfig = NonNullable<EdgeConfig['acme']>;
export type ListenerConfig = Config['listeners'][number];
export type ListenerStarttls = (typeof LISTENER_STARTTLS)[number];
export type UpstreamStarttlsName = (typeof UPSTREAM_STARTTLS)[number];
