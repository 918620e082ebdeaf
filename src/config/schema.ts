/**
 * The configuration schema: the single source for validation, types and
 * docs/configuration.md. Unknown keys are errors (strict objects everywhere).
 * Defaults live in DEFAULTS and are applied here, in one place.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

export const DEFAULTS = {
  listen: '0.0.0.0:8443',
  minVersion: 'TLSv1.2',
  upstreamMinVersion: 'TLSv1.3',
  clientAuthMode: 'require',
  handshakeTimeout: '10s',
  idleTimeout: '5m',
  connectTimeout: '5s',
  requestTimeout: '60s',
  shutdownGrace: '10s',
  delegationTtl: '1h',
  delegationCache: 10_000,
  failTimeout: '10s',
  maxHeaderSize: 16_384,
  agentsPerUpstream: 1000,
  logLevel: 'info',
  acmeChallenge: 'http-01',
  acmeHttpListen: '0.0.0.0:80',
} as const;

const duration = (def: string) =>
  z.string().default(def).transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration; write it like 500ms, 30s, 5m, 1h or 7d` });
      return z.NEVER;
    }
    return ms;
  });

const hostPort = z.string().refine((s) => /^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):\d{1,5}$/.test(s) && Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, {
  message: 'expected host:port, e.g. 127.0.0.1:8443 or [::1]:8443',
});
const file = z.string().min(1, 'a file path is required');
const files = z.union([file, z.array(file).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));
const keyPair = z.strictObject({ cert: file, key: file });
const identity = z.string().regex(/^[0-9a-f]{64}$/, 'an identity is 64 lowercase hex characters (countersign identity of FILE prints it)');
const tlsVersion = z.enum(['TLSv1.2', 'TLSv1.3']);

const acmeSchema = z.strictObject({
  directory: z.string().min(1),
  ca: file.optional(),
  email: z.string().email().optional(),
  domains: z.array(z.string().min(1)).min(1),
  challenge: z.enum(['http-01', 'tls-alpn-01']).default(DEFAULTS.acmeChallenge),
  httpListen: hostPort.default(DEFAULTS.acmeHttpListen),
  storage: file,
  eab: z.strictObject({ kid: z.string().min(1), hmacKey: z.string().min(1) }).optional(),
  renewCheckInterval: duration('1h'),
});

const edgeSchema = z.strictObject({
  certificates: z.array(keyPair).default([]),
  minVersion: tlsVersion.default(DEFAULTS.minVersion),
  clientAuth: z.strictObject({
    mode: z.enum(['require', 'optional', 'any']).default(DEFAULTS.clientAuthMode),
    ca: files.optional(),
    crl: files.optional(),
  }),
  deny: z.array(identity).default([]),
  handshakeTimeout: duration(DEFAULTS.handshakeTimeout),
  acme: acmeSchema.optional(),
  reloadPollInterval: duration('2s'),
});

const upstreamSchema = z.strictObject({
  servers: z.array(hostPort).min(1, 'an upstream needs at least one server'),
  ca: files,
  servername: z.string().min(1).optional(),
  minVersion: tlsVersion.default(DEFAULTS.upstreamMinVersion),
  balance: z.enum(['round-robin', 'least-connections']).default('round-robin'),
  connectTimeout: duration(DEFAULTS.connectTimeout),
  failTimeout: duration(DEFAULTS.failTimeout),
});

const routeSchema = z.strictObject({
  upstream: z.string().min(1),
  match: z.strictObject({
    sni: z.string().min(1).optional(),
    host: z.string().min(1).optional(),
    pathPrefix: z.string().startsWith('/').optional(),
  }).optional(),
  mode: z.enum(['connection', 'http']).default('connection'),
  identity: z.enum(['delegated', 'header', 'both']).default('delegated'),
  header: z.enum(['kes', 'nginx', 'rfc9440', 'xfcc']).default('kes'),
  headerName: z.string().min(1).optional(),
  proxyCert: keyPair.optional(),
  allowAnonymous: z.boolean().default(false),
});

export const configSchema = z.strictObject({
  listen: hostPort.default(DEFAULTS.listen),
  edge: edgeSchema,
  delegation: z.strictObject({
    ca: keyPair,
    ttl: duration(DEFAULTS.delegationTtl),
    cache: z.number().int().positive().default(DEFAULTS.delegationCache),
    embedOriginal: z.boolean().default(false),
    extensionOid: z.string().regex(/^\d+(\.\d+)+$/, 'an OID in dotted form').optional(),
  }).optional(),
  upstreams: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'upstream names use letters, digits, _ . -'), upstreamSchema),
  routes: z.array(routeSchema).min(1, 'at least one route is needed'),
  timeouts: z.strictObject({
    idle: duration(DEFAULTS.idleTimeout),
    request: duration(DEFAULTS.requestTimeout),
    shutdownGrace: duration(DEFAULTS.shutdownGrace),
  }).prefault({}),
  limits: z.strictObject({
    maxHeaderSize: z.number().int().min(1024).default(DEFAULTS.maxHeaderSize),
    agentsPerUpstream: z.number().int().positive().default(DEFAULTS.agentsPerUpstream),
    maxConnections: z.number().int().positive().optional(),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default(DEFAULTS.logLevel),
    pretty: z.boolean().default(false),
  }).prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type RouteConfig = Config['routes'][number];
export type UpstreamConfig = Config['upstreams'][string];
export type EdgeConfig = Config['edge'];
export type AcmeConfig = NonNullable<EdgeConfig['acme']>;
