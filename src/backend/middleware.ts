/**
 * HTTP middleware: identify the request, optionally authorize it against a
 * policy, attach the identity as `req.countersign`, or answer with a JSON error
 * `{ "code": "...", "message": "..." }`:
 *
 *   400  an identity header from a trusted proxy is malformed (ERR_HEADER_MALFORMED)
 *   401  no identity could be established (the error's own code and message)
 *   403  the policy refuses the request: always `ERR_POLICY_DENIED` /
 *        "prohibited by policy", whatever the reason, so clients cannot probe
 *        which identities exist; the reason goes to `onRefused`.
 *
 * Framework types are described structurally so this module imports neither
 * Express nor Fastify: a backend installs countersign/backend and nothing else
 * comes along.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isCountersignError } from '../errors.js';
import type { Identifier, IdentifiableRequest, ResolvedIdentity } from './identifier.js';
import { CLIENT_DENIAL_MESSAGE, type PolicyEngine } from './policy.js';

export interface GuardOptions {
  identifier: Identifier;
  /** When given, every request must be allowed by it (403 otherwise). Default: identification only. */
  policy?: PolicyEngine;
  /** Called for every refused request, with the reason the client does not see. Default: nothing. */
  onRefused?: (event: RefusalEvent) => void;
  /** Called when a request carried an identity header that was not believed. Default: nothing. */
  onHeaderIgnored?: (event: { identity: string; header: string; message: string; method: string; path: string }) => void;
}

/** What middleware attaches as `req.countersign`. */
export interface RequestIdentity extends ResolvedIdentity {
  /** the policy that allowed the request, when a policy engine is configured */
  policy?: string;
}

export interface ErrorBody { code: string; message: string }

export interface RefusalEvent {
  status: 400 | 401 | 403;
  /** the code sent to the client */
  code: string;
  /** what the log should say: the error message, or the policy's denial reason */
  reason: string;
  method: string;
  path: string;
  /** set when identification succeeded and the policy refused */
  identity?: string;
  policy?: string;
}

export type GuardOutcome =
  | { ok: true; identity: RequestIdentity }
  | { ok: false; status: 400 | 401 | 403; body: ErrorBody; event: RefusalEvent };

/** The URL path the policy sees: no query, percent-decoded (Go's r.URL.Path, what KES matches). */
export function policyPath(url: string): string | undefined {
  const q = url.indexOf('?');
  const raw = q === -1 ? url : url.slice(0, q);
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** The framework-neutral core: decides one request. Unexpected (non-Countersign) errors are rethrown. */
export function createGuard(options: GuardOptions): (req: IdentifiableRequest & { method?: string }, url: string) => GuardOutcome {
  const { identifier, policy, onRefused, onHeaderIgnored } = options;
  if (!identifier || typeof identifier.identifyRequest !== 'function') {
    throw new TypeError('countersign middleware: options.identifier must come from createIdentifier()');
  }
  const refuse = (event: RefusalEvent, body: ErrorBody): GuardOutcome => {
    onRefused?.(event);
    return { ok: false, status: event.status, body, event };
  };
  return (req, url) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const path = policyPath(url);
    let identity: ResolvedIdentity;
    try {
      identity = identifier.identifyRequest(req);
    } catch (err) {
      if (!isCountersignError(err)) throw err;
      const status = err.code === 'ERR_HEADER_MALFORMED' ? 400 : 401;
      return refuse({ status, code: err.code, reason: err.message, method, path: path ?? url }, { code: err.code, message: err.message });
    }
    if (identity.headerIgnored) {
      onHeaderIgnored?.({ identity: identity.identity, header: identity.headerIgnored.header, message: identity.headerIgnored.message, method, path: path ?? url });
    }
    if (!policy) return { ok: true, identity };
    const denied: ErrorBody = { code: 'ERR_POLICY_DENIED', message: CLIENT_DENIAL_MESSAGE };
    if (path === undefined) {
      return refuse({ status: 403, code: denied.code, reason: 'request path is not valid percent-encoding', method, path: url, identity: identity.identity }, denied);
    }
    const decision = policy.authorize(identity.identity, method, path);
    if (!decision.allowed) {
      return refuse({ status: 403, code: denied.code, reason: decision.reason, method, path, identity: identity.identity, policy: decision.policy }, denied);
    }
    return { ok: true, identity: { ...identity, policy: decision.policy } };
  };
}

function sendJson(res: ServerResponse, status: number, body: ErrorBody): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export type CountersignRequest = IncomingMessage & { countersign: RequestIdentity };

/**
 * For node:https request handlers: `https.createServer(tlsOptions, countersignHandler(opts)(handler))`.
 * The handler runs only for identified (and allowed) requests.
 */
export function countersignHandler(options: GuardOptions) {
  const guard = createGuard(options);
  return (handler: (req: CountersignRequest, res: ServerResponse) => void) =>
    (req: IncomingMessage, res: ServerResponse): void => {
      let outcome: GuardOutcome;
      try {
        outcome = guard(req, req.url ?? '/');
      } catch {
        sendJson(res, 500, { code: 'ERR_INTERNAL', message: 'internal error while identifying the client' });
        return;
      }
      if (!outcome.ok) { sendJson(res, outcome.status, outcome.body); return; }
      (req as CountersignRequest).countersign = outcome.identity;
      handler(req as CountersignRequest, res);
    };
}

/** Express middleware: `app.use(countersignExpress(opts))`; unexpected errors go to `next(err)`. */
export function countersignExpress(options: GuardOptions) {
  const guard = createGuard(options);
  return (req: IncomingMessage & { originalUrl?: string; countersign?: RequestIdentity }, res: ServerResponse, next: (err?: unknown) => void): void => {
    let outcome: GuardOutcome;
    try {
      // originalUrl: a router mounted under a prefix sees req.url with the prefix removed
      outcome = guard(req, req.originalUrl ?? req.url ?? '/');
    } catch (err) {
      next(err);
      return;
    }
    if (!outcome.ok) { sendJson(res, outcome.status, outcome.body); return; }
    req.countersign = outcome.identity;
    next();
  };
}

/** The parts of Fastify's request and reply the hook uses. */
export interface FastifyLikeRequest { raw: IncomingMessage & { countersign?: RequestIdentity }; countersign?: RequestIdentity | null }
export interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  header(name: string, value: string): FastifyLikeReply;
  send(body: unknown): unknown;
}

/** A Fastify `onRequest` hook, for one route (`{ onRequest: countersignOnRequest(opts) }`) or addHook. */
export function countersignOnRequest(options: GuardOptions) {
  const guard = createGuard(options);
  return (request: FastifyLikeRequest, reply: FastifyLikeReply, done: (err?: Error) => void): void => {
    let outcome: GuardOutcome;
    try {
      outcome = guard(request.raw, request.raw.url ?? '/');
    } catch (err) {
      done(err as Error);
      return;
    }
    if (!outcome.ok) {
      reply.code(outcome.status).header('content-type', 'application/json; charset=utf-8').send(outcome.body);
      return;
    }
    request.countersign = outcome.identity;
    request.raw.countersign = outcome.identity;
    done();
  };
}

interface FastifyLikeInstance {
  decorateRequest(name: string, value: unknown): unknown;
  addHook(name: 'onRequest', hook: ReturnType<typeof countersignOnRequest>): unknown;
}

/**
 * A Fastify plugin: `await app.register(countersignFastify(opts))`. It applies to
 * the scope it is registered in and its children (it skips Fastify's
 * encapsulation, as fastify-plugin would), and decorates `request.countersign`.
 */
export function countersignFastify(options: GuardOptions) {
  const hook = countersignOnRequest(options);
  const plugin = (instance: FastifyLikeInstance, _opts: unknown, done: (err?: Error) => void): void => {
    instance.decorateRequest('countersign', null);
    instance.addHook('onRequest', hook);
    done();
  };
  Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'countersign' });
  return plugin;
}

/** The identity middleware attached to a request (node:http, Express or Fastify request). */
export function countersignOf(req: object): RequestIdentity | undefined {
  const r = req as { countersign?: RequestIdentity | null; raw?: { countersign?: RequestIdentity } };
  return r.countersign ?? r.raw?.countersign ?? undefined;
}
